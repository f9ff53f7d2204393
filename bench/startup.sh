#!/usr/bin/env bash
# Start-up side by side with the reference runtime: the wall time of a whole
# run of a large program (default: the 2.6 MB Go guest fixtures/goguest.wasm,
# which prints two lines and exits), as a user sees it:
#   wasix-run --no-cache   compiles every run (wasix-run before the cache)
#   wasix-run cold         empty compile cache: compile, then store
#   wasix-run warm         the compiled module loaded from the cache
#   @wasmer/sdk 0.16.0     under Node 20 (fixtures/refrun.mjs; includes Node's
#                          own start-up)
# Medians of RUNS runs each, the four kinds interleaved run by run so that a
# change of machine load hits them alike.
#
#   bash bench/startup.sh [MODULE] [RUNS]     (defaults: fixtures/goguest.wasm, 5)
#
# Needs Go, Node 20 and npm (it installs tests/conformance's dependencies).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module="$(realpath "${1:-$root/fixtures/goguest.wasm}")"
runs="${2:-5}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$root/tests/conformance" && { [ -d node_modules/@wasmer/sdk ] || npm ci --silent --no-audit --no-fund; })
(cd "$root" && go build -o "$tmp/wasix-run" ./cmd/wasix-run)
export REFRUN_SDK="$root/tests/conformance/node_modules/@wasmer/sdk/dist/node.js"

# wall time in ns of one run of a command (which must exit 0)
wall() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null
  t1=$(date +%s%N)
  echo $((t1 - t0))
}

XDG_CACHE_HOME="$tmp/warm" "$tmp/wasix-run" "$module" >/dev/null # fill the warm cache
declare -a nocache cold warm ref
for i in $(seq "$runs"); do
  nocache+=("$(wall "$tmp/wasix-run" --no-cache "$module")")
  cold+=("$(XDG_CACHE_HOME="$tmp/cold$i" wall "$tmp/wasix-run" "$module")")
  warm+=("$(XDG_CACHE_HOME="$tmp/warm" wall "$tmp/wasix-run" "$module")")
  ref+=("$(wall node "$root/fixtures/refrun.mjs" "$module")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
n=$(median "${nocache[@]}"); c=$(median "${cold[@]}"); w=$(median "${warm[@]}"); r=$(median "${ref[@]}")
awk -v n="$n" -v c="$c" -v w="$w" -v r="$r" -v m="$(basename "$module")" -v s="$(stat -c %s "$module")" 'BEGIN {
  printf "%s (%.1f MB), median wall time of a whole run\n", m, s / 1048576
  printf "wasix-run --no-cache   %8.0f ms  %5.2f x reference\n", n / 1e6, n / r
  printf "wasix-run cold cache   %8.0f ms  %5.2f x reference  %5.2f x --no-cache\n", c / 1e6, c / r, c / n
  printf "wasix-run warm cache   %8.0f ms  %5.2f x reference\n", w / 1e6, w / r
  printf "@wasmer/sdk (Node 20)  %8.0f ms\n", r / 1e6
}'
