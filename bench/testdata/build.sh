#!/usr/bin/env bash
# Rebuild setjmp.wasm from setjmp.wat: wat2wasm (wabt), then wasm-opt
# --asyncify (binaryen), so that only stack_checkpoint unwinds. -O1 keeps
# the helper functions apart (real frames to unwind).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wat2wasm setjmp.wat -o "$tmp/setjmp.wasm"
wasm-opt "$tmp/setjmp.wasm" --enable-mutable-globals --asyncify \
    --pass-arg=asyncify-imports@wasix_32v1.stack_checkpoint -O1 -o setjmp.wasm
