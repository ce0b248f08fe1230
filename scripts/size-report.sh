#!/usr/bin/env bash
# Size report of the built agent (scripts/build-agent.sh): raw, gzip -9 and brotli -q 11 bytes
# of the files a page downloads (the WebAssembly module, and the script-tag loader with
# wasm-bindgen's JS glue inside), and the total; then, apart, the files only some pages download
# (the fallback for pages that may not compile WebAssembly, the dtrum shim for data-dtrum="true",
# the SHA-256 for configs with hashed rules, the serializer for configs given as objects),
# which the budget does not count.
#   scripts/size-report.sh [--budget BYTES] [--parts]
# --budget: exit 1 when the brotli total exceeds BYTES.
# --parts:  where the module's bytes go, by part (needs twiggy: cargo install twiggy).
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=www/dist
budget=""
parts=""
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget="$2"; shift 2 ;;
    --parts) parts=1; shift ;;
    *) echo "usage: $0 [--budget BYTES] [--parts]" >&2; exit 2 ;;
  esac
done
[ -f "$DIST/pkg/rumprops_bg.wasm" ] || { echo "no build in $DIST: run scripts/build-agent.sh" >&2; exit 2; }

row() { printf '| %-28s | %9s | %9s | %9s |\n' "$@"; }
row file raw "gzip -9" "brotli 11"
row "----------------------------" "--------:" "--------:" "--------:"
tr=0; tg=0; tb=0
for f in "$DIST/pkg/rumprops_bg.wasm" "$DIST/rumprops.js"; do
  r=$(wc -c < "$f"); g=$(gzip -9c "$f" | wc -c); b=$(brotli -c -q 11 "$f" | wc -c)
  tr=$((tr + r)); tg=$((tg + g)); tb=$((tb + b))
  row "${f#$DIST/}" "$r" "$g" "$b"
done
row "total" "$tr" "$tg" "$tb"
echo
echo "Downloaded only by some pages (not in the total or the budget):"
echo
row file raw "gzip -9" "brotli 11"
row "----------------------------" "--------:" "--------:" "--------:"
for f in "$DIST/pkg/rumprops_fallback.js" "$DIST/dtrum.js" "$DIST/pkg/rumprops_sha256.js" "$DIST/pkg/rumprops_json.js"; do
  [ -f "$f" ] || continue
  r=$(wc -c < "$f"); g=$(gzip -9c "$f" | wc -c); b=$(brotli -c -q 11 "$f" | wc -c)
  row "${f#$DIST/}" "$r" "$g" "$b"
done

if [ -n "$parts" ]; then
  command -v twiggy >/dev/null || { echo "--parts needs twiggy (cargo install twiggy)" >&2; exit 2; }
  tmp=$(mktemp -d)
  wasm-bindgen --keep-debug --target web --no-typescript --out-dir "$tmp" target/wasm32-unknown-unknown/release/rumprops.wasm
  twiggy top -n 100000 --format csv "$tmp/rumprops_bg.wasm" > "$tmp/top.csv"
  python3 - "$tmp/top.csv" <<'PY'
import csv, re, sys, collections
parts = collections.Counter()
for r in csv.DictReader(open(sys.argv[1])):
    name, size = r['Name'], int(r['ShallowSize'])
    if 'function names' in name or name.startswith('Σ'):
        continue
    # scripts/build-wasm.sh drops these from the function table, and wasm-opt then drops them.
    if re.search(r'closures::_::invoke|jspi::task_waker', name):
        continue
    if re.search(r'rumprops::regex', name): p = 'regex (own engine)'
    elif re.search(r'rumprops::heap|__rdl|__rust_(alloc|dealloc|realloc)', name): p = 'allocator'
    elif re.search(r'rumprops::(agent|runtime|watch)', name): p = 'agent: sessions, beacons, runtime'
    elif re.search(r'rumprops::(config|json)', name): p = 'config + JSON reader'
    elif re.search(r'rumprops::', name): p = 'capture core (pipeline, typing, page)'
    elif re.search(r'wasm_bindgen|js_sys|web_sys|externref|__wbg|__wbindgen|^import ', name): p = 'web-sys / wasm-bindgen glue'
    elif name.startswith('data segment'): p = 'data (strings, tables)'
    elif re.search(r'^<?(core|alloc|std|compiler_builtins)', name): p = 'std/core/alloc (incl. generic code)'
    else: p = 'other (types, tables, exports)'
    parts[p] += size
total = sum(parts.values())
print('\n| part (before wasm-opt, uncompressed) | bytes | share |\n|---|---:|---:|')
for p, s in parts.most_common():
    print(f'| {p} | {s} | {100 * s / total:.1f}% |')
print('\nserde: none (the config and JSON are read by the crate\'s own reader).')
PY
  rm -rf "$tmp"
fi

if [ -n "$budget" ] && [ "$tb" -gt "$budget" ]; then
  echo "size budget exceeded: $tb B brotli > $budget B" >&2
  exit 1
fi
