# rumprops: `make demo` (build, serve the demo) and `make test` (every test).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
WASM := wasm32-unknown-unknown
# Browser tests: cargo hands the test .wasm to wasm-bindgen-test-runner, which drives headless
# Chromium through chromedriver with the capabilities in webdriver.json.
BROWSER_ENV := CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120

.PHONY: setup test test-native test-browser lint demo

setup:
	@scripts/setup.sh

## Every test: lints, native tests (unit, fixture table, property tests, CLI), browser tests.
test: setup lint test-native test-browser

lint:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p rumprops --target $(WASM) --all-targets -- -D warnings

test-native:
	cargo test --workspace

test-browser:
	$(BROWSER_ENV) cargo test -p rumprops --target $(WASM) --test browser

## The demo: for now the rule tester on the saved page; the collector's demo shop follows.
demo: setup
	cargo build --release -p rumprops-collector
	./target/release/rumprops eval --rules tests/pages/book-installation.rules.json \
		tests/pages/book-installation.html \
		--url 'https://doc.rust-lang.org/book/ch01-01-installation.html?utm_campaign=spring+sale&visits=12' \
		--cookie 'loyalty=GOLD%20Plus; cart_total=59.90' --js tests/pages/book-installation.globals.json
