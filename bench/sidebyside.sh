#!/usr/bin/env bash
# Side by side with the reference runtime: the same guest run by wasix-run and
# by @wasmer/sdk 0.16.0 on Node, in one of two modes:
#
#   signal  a guest registers a handler and raises N signals in a loop; the
#           result is the cost per delivered signal.
#   setjmp  an asyncify guest does N setjmp + longjmp pairs in a loop and
#           prints "pairs: N"; the result is the cost per pair.
#
# Each runtime's startup is measured with the same guest doing 10 of them and
# subtracted. Each guest exits 0 only if all N happened, and its output is
# compared between the two runtimes before anything is timed.
#
#   bash bench/sidebyside.sh [signal|setjmp] [N] [RUNS]
#       (defaults: signal; N 200000 for signal, 20000 for setjmp; RUNS 5)
#
# Needs Go, Node 20 and npm (it installs tests/conformance's dependencies);
# the setjmp mode also needs Binaryen's wasm-opt (for --asyncify).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode=signal
case "${1:-}" in signal | setjmp) mode=$1; shift ;; esac
if [ "$mode" = setjmp ]; then n="${1:-20000}"; else n="${1:-200000}"; fi
runs="${2:-5}"
if [ "$mode" = setjmp ] && ! command -v wasm-opt >/dev/null; then
  echo "sidebyside.sh: the setjmp mode needs wasm-opt (Binaryen)" >&2
  exit 2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$root/tests/conformance" && { [ -d node_modules/@wasmer/sdk ] || npm ci --silent --no-audit --no-fund; })
(cd "$root" && go build -o "$tmp/wasix-run" ./cmd/wasix-run)

signal_guest() { # $1 = count
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
# The setjmp guest has the shape of a wasix-libc program built without
# exception handling (fixtures/wxsetjmp.h): an imported shared env.memory,
# setjmp = stack_checkpoint(buf, &ret) in a function of its own, longjmp =
# stack_restore(buf, 1) in a function of its own that never returns (the
# reference needs that: a stack_restore followed by more code of the same
# function does not jump), exported __stack_pointer and __data_end (the stack
# is the 64 KiB above the data, as wasm-ld lays it out), and Binaryen's
# asyncify exports, letting only stack_checkpoint unwind. The count of
# longjmps that landed is kept in memory, not in a global.
setjmp_guest() { # $1 = count
  cat <<WAT
(module
  (import "env" "memory" (memory 2 65536 shared))
  (import "wasix_32v1" "stack_checkpoint" (func \$checkpoint (param i32 i32) (result i32)))
  (import "wasix_32v1" "stack_restore" (func \$restore (param i32 i64)))
  (import "wasi_snapshot_preview1" "fd_write" (func \$fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func \$exit (param i32)))
  (global \$sp (export "__stack_pointer") (mut i32) (i32.const 66560))
  (global \$data_end (export "__data_end") i32 (i32.const 1024))
  ;; memory: 16 jmp_buf (24 bytes), 64 count, 128 iovec, 256-300 text
  (func \$setjmp (param \$buf i32) (result i32)
    (local \$slot i32) (local \$r i32)
    (global.set \$sp (i32.sub (global.get \$sp) (i32.const 16)))
    (local.set \$slot (global.get \$sp))
    (if (call \$checkpoint (local.get \$buf) (local.get \$slot)) (then unreachable))
    (local.set \$r (i32.wrap_i64 (i64.load (local.get \$slot))))
    (global.set \$sp (i32.add (global.get \$sp) (i32.const 16)))
    (local.get \$r))
  (func \$longjmp (param \$buf i32) (param \$v i32)
    (call \$restore (local.get \$buf) (i64.extend_i32_u (local.get \$v)))
    unreachable)
  (func \$pairs (param \$i i32)
    (block \$out (loop \$next
      (br_if \$out (i32.eqz (local.get \$i)))
      (if (i32.eqz (call \$setjmp (i32.const 16)))
        (then (call \$longjmp (i32.const 16) (i32.const 1)))
        (else (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))))
      (local.set \$i (i32.sub (local.get \$i) (i32.const 1)))
      (br \$next))))
  ;; print "pairs: COUNT", exit 0 only if COUNT = N
  (func (export "_start") (local \$c i32) (local \$p i32)
    (call \$pairs (i32.const $1))
    (local.set \$c (i32.load (i32.const 64)))
    (local.set \$p (i32.const 300))
    (i32.store8 (i32.const 300) (i32.const 10))
    (loop \$digit
      (local.set \$p (i32.sub (local.get \$p) (i32.const 1)))
      (i32.store8 (local.get \$p) (i32.add (i32.const 48) (i32.rem_u (local.get \$c) (i32.const 10))))
      (local.set \$c (i32.div_u (local.get \$c) (i32.const 10)))
      (br_if \$digit (local.get \$c)))
    (local.set \$p (i32.sub (local.get \$p) (i32.const 7)))
    (i32.store (local.get \$p) (i32.const 0x72696170))                  ;; "pair"
    (i32.store16 (i32.add (local.get \$p) (i32.const 4)) (i32.const 0x3a73)) ;; "s:"
    (i32.store8 (i32.add (local.get \$p) (i32.const 6)) (i32.const 32))
    (i32.store (i32.const 128) (local.get \$p))
    (i32.store (i32.const 132) (i32.sub (i32.const 301) (local.get \$p)))
    (drop (call \$fd_write (i32.const 1) (i32.const 128) (i32.const 1) (i32.const 120)))
    (call \$exit (i32.ne (i32.load (i32.const 64)) (i32.const $1)))))
WAT
}
"${mode}_guest" "$n" > "$tmp/many.wat"
"${mode}_guest" 10 > "$tmp/few.wat"
for f in many few; do
  node -e "
    const wabt = require('$root/tests/conformance/node_modules/wabt');
    const fs = require('fs');
    wabt().then(w => {
      const m = w.parseWat('$f.wat', fs.readFileSync('$tmp/$f.wat', 'utf8'), { threads: true });
      fs.writeFileSync('$tmp/$f.wasm', Buffer.from(m.toBinary({}).buffer));
    });"
  if [ "$mode" = setjmp ]; then
    mv "$tmp/$f.wasm" "$tmp/$f.pre.wasm"
    wasm-opt "$tmp/$f.pre.wasm" --enable-threads --enable-mutable-globals --asyncify \
      --pass-arg=asyncify-imports@wasix_32v1.stack_checkpoint -O1 -o "$tmp/$f.wasm"
  fi
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

# Both runtimes must run the guest to the same end before it is timed.
for f in many few; do
  ours=$("$tmp/wasix-run" "$tmp/$f.wasm" 2>&1; echo "exit $?")
  ref=$(node "$root/fixtures/refrun.mjs" "$tmp/$f.wasm" 2>&1; echo "exit $?")
  if [ "$ours" != "$ref" ] || [ "${ours##*exit }" != 0 ]; then
    printf 'sidebyside.sh: %s.wasm: the runs differ or fail\n-- wasix-run:\n%s\n-- reference:\n%s\n' "$f" "$ours" "$ref" >&2
    exit 1
  fi
  if [ "$f" = many ]; then
    printf 'both runtimes: %s\n' "$(printf '%s' "$ours" | tr '\n' ' ')"
  fi
done
ours_many=$(median "$tmp/wasix-run" "$tmp/many.wasm")
ours_few=$(median "$tmp/wasix-run" "$tmp/few.wasm")
ref_many=$(median node "$root/fixtures/refrun.mjs" "$tmp/many.wasm")
ref_few=$(median node "$root/fixtures/refrun.mjs" "$tmp/few.wasm")

unit=signal
[ "$mode" = setjmp ] && unit=pair
awk -v unit="$unit" -v n="$n" -v om="$ours_many" -v of="$ours_few" -v rm="$ref_many" -v rf="$ref_few" 'BEGIN {
  ours = (om - of) / (n - 10); ref = (rm - rf) / (n - 10)
  printf "%-19s %14s  %11s  %10s\n", "runtime", n " " unit "s", "10 " unit "s", "per " unit
  printf "%-19s %11.1f ms  %8.1f ms  %7.0f ns\n", "wasix-run", om / 1e6, of / 1e6, ours
  printf "%-19s %11.1f ms  %8.1f ms  %7.0f ns\n", "@wasmer/sdk (Node)", rm / 1e6, rf / 1e6, ref
  printf "ratio (ours / reference): %.2f\n", ours / ref
}'
