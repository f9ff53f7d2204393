#!/usr/bin/env bash
# Side by side with the reference runtime: a guest registers a handler and
# raises N signals in a loop, run by wasix-run and by @wasmer/sdk 0.16.0 on
# Node. Each runtime's startup is measured with the same guest raising 10
# signals and subtracted; the result is the cost per delivered signal.
#
#   bash bench/sidebyside.sh [N] [RUNS]     (defaults: 200000, 5)
#
# Needs Go, Node 20 and npm (it installs tests/conformance's dependencies).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-200000}"
runs="${2:-5}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$root/tests/conformance" && { [ -d node_modules/@wasmer/sdk ] || npm ci --silent --no-audit --no-fund; })
(cd "$root" && go build -o "$tmp/wasix-run" ./cmd/wasix-run)

guest() { # $1 = count
  cat <<WAT
(module
  (import "wasix_32v1" "callback_signal" (func \$cb (param i32 i32)))
  (import "wasix_32v1" "proc_raise" (func \$raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func \$exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "__wasm_signal")
  (global \$seen (mut i32) (i32.const 0))
  (func (export "__wasm_signal") (param i32) (global.set \$seen (i32.add (global.get \$seen) (i32.const 1))))
  (func (export "_start") (local \$i i32)
    (call \$cb (i32.const 0) (i32.const 13))
    (local.set \$i (i32.const $1))
    (block \$done (loop \$l
      (br_if \$done (i32.eqz (local.get \$i)))
      (drop (call \$raise (i32.const 10)))
      (local.set \$i (i32.sub (local.get \$i) (i32.const 1)))
      (br \$l)))
    ;; exit 0 only if every signal reached the handler
    (call \$exit (i32.ne (global.get \$seen) (i32.const $1)))))
WAT
}
guest "$n" > "$tmp/many.wat"
guest 10 > "$tmp/few.wat"
for f in many few; do
  node -e "
    const wabt = require('$root/tests/conformance/node_modules/wabt');
    const fs = require('fs');
    wabt().then(w => {
      const m = w.parseWat('$f.wat', fs.readFileSync('$tmp/$f.wat', 'utf8'));
      fs.writeFileSync('$tmp/$f.wasm', Buffer.from(m.toBinary({}).buffer));
    });"
done

# median wall time in ns of RUNS runs of a command (which must exit 0)
median() {
  local times=()
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    times+=($((t1 - t0)))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

export REFRUN_SDK="$root/tests/conformance/node_modules/@wasmer/sdk/dist/node.js"
export XDG_CACHE_HOME="$tmp/cache" # wasix-run's compile cache: keep it out of the user's
ours_many=$(median "$tmp/wasix-run" "$tmp/many.wasm")
ours_few=$(median "$tmp/wasix-run" "$tmp/few.wasm")
ref_many=$(median node "$root/fixtures/refrun.mjs" "$tmp/many.wasm")
ref_few=$(median node "$root/fixtures/refrun.mjs" "$tmp/few.wasm")

awk -v n="$n" -v om="$ours_many" -v of="$ours_few" -v rm="$ref_many" -v rf="$ref_few" 'BEGIN {
  ours = (om - of) / (n - 10); ref = (rm - rf) / (n - 10)
  printf "runtime             %d signals   10 signals   per signal\n", n
  printf "wasix-run           %8.1f ms  %8.1f ms   %7.0f ns\n", om / 1e6, of / 1e6, ours
  printf "@wasmer/sdk (Node)  %8.1f ms  %8.1f ms   %7.0f ns\n", rm / 1e6, rf / 1e6, ref
  printf "ratio (ours / reference): %.2f\n", ours / ref
}'
