#!/usr/bin/env bash
# Rebuild the asyncify test guests from their .wat: wat2wasm (wabt), then
# wasm-opt --asyncify (binaryen), so that only stack_checkpoint unwinds.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in jumps; do
    wat2wasm "$f.wat" -o "$tmp/$f.wasm"
    wasm-opt "$tmp/$f.wasm" --enable-mutable-globals --asyncify \
        --pass-arg=asyncify-imports@wasix_32v1.stack_checkpoint -O2 -o "$f.wasm"
done
