#!/usr/bin/env bash
# Differential conformance suite: every scenarios/NAME.wat runs under
#   - the reference runtime (Wasmer's WASIX via @wasmer/sdk on Node), compared
#     with the recorded expected/NAME.wasmer                        column "ref"
#   - our runner, `wasix-run --policy wasmer`, compared with the live reference
#     output (the recorded one when the reference crashed)         column "wasmer"
#   - our runner, `wasix-run --policy default`, compared with expected/NAME.default
#     (derived from docs/BEHAVIOUR.md)                                       column "default"
# A mismatch fails the run unless known-differences.txt lists it.
#
# usage: tests/conformance/run.sh [--record] [--ref-only] [--no-ref] [NAME ...]
#   --record    rewrite expected/*.wasmer from the reference runtime, then compare
#   --ref-only  run only the reference half (exit 0 when it matches the recording)
#   --no-ref    offline mode: no Node, no npm, no network; ours is compared with
#               the committed expectations (expected/*.wasmer recorded from the
#               reference, expected/*.default); needs only Go
#   NAME ...    run only these scenarios
# Needs: Go (and cgo) for our runner; the reference half also needs Node 20 and
# npm, which installs @wasmer/sdk and wabt from the npm registry on first use.
# env: CONFORMANCE_KEEP=1 keeps the work directory; WASIX_RUN=path uses that
#      binary instead of building ./cmd/wasix-run; CONFORMANCE_TIMEOUT (s, default 60)
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
record=0 ref=1 ours=1
names=()
for a in "$@"; do
  case "$a" in
    --record) record=1 ;;
    --ref-only) ours=0 ;;
    --no-ref) ref=0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown flag $a" >&2; exit 2 ;;
    *) n="${a##*/}"; names+=("${n%.wat}") ;;
  esac
done
if [ ${#names[@]} -eq 0 ]; then
  for f in "$here"/scenarios/*.wat; do n="${f##*/}"; names+=("${n%.wat}"); done
fi
timeout_s="${CONFORMANCE_TIMEOUT:-60}"

work="$(mktemp -d "${TMPDIR:-/tmp}/conformance.XXXXXX")"
if [ "${CONFORMANCE_KEEP:-0}" = 1 ]; then
  echo "work directory: $work"
else
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/ref" "$work/wasmer" "$work/default"

# ---- (a) npm install, if needed ----
if [ $ref = 1 ] || [ $record = 1 ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "run.sh: the reference half needs Node 20 and npm; without them, run the offline mode: $0 --no-ref" >&2
    exit 1
  fi
  if [ ! -d "$here/node_modules/@wasmer/sdk" ] || [ ! -d "$here/node_modules/wabt" ]; then
    echo "installing node packages (npm ci)..."
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || { echo "run.sh: npm ci failed" >&2; exit 1; }
  fi
fi

# ---- the generated files must match gen.mjs ----
# gen.mjs is JavaScript: offline, without Node, the committed files are taken
# as they are (CI, which has Node, checks them).
if ! command -v node >/dev/null; then
  echo "node not found: not checking scenarios/ and expected/*.default against gen.mjs"
elif ! (cd "$here" && node gen.mjs --check); then
  echo "run.sh: scenarios/ or expected/*.default are stale: run 'node tests/conformance/gen.mjs'" >&2
  exit 1
fi

# ---- (b) the reference runtime ----
if [ $record = 1 ]; then
  echo "recording expected/*.wasmer from the reference runtime..."
  (cd "$here" && node ref-run.mjs --record "${names[@]}") || exit 1
fi
if [ $ref = 1 ]; then
  echo "running ${#names[@]} scenarios under the reference runtime..."
  (cd "$here" && node ref-run.mjs --out "$work/ref" "${names[@]}") || { echo "run.sh: reference runner failed" >&2; exit 1; }
fi

# ---- (c) our runner ----
ours_state=skip
if [ $ours = 1 ]; then
  bin="${WASIX_RUN:-}"
  if [ -z "$bin" ]; then
    if ! ls "$root"/cmd/wasix-run/*.go >/dev/null 2>&1; then
      echo "run.sh: ./cmd/wasix-run does not exist yet: our half is skipped" >&2
      ours_state=missing
    else
      bin="$work/wasix-run"
      echo "building ./cmd/wasix-run..."
      if ! (cd "$root" && go build -o "$bin" ./cmd/wasix-run) 2>"$work/build.log"; then
        cat "$work/build.log" >&2
        echo "run.sh: go build ./cmd/wasix-run failed" >&2
        ours_state=broken
      fi
    fi
  fi
  if [ "$ours_state" = skip ]; then
    ours_state=ran
    echo "running ${#names[@]} scenarios under wasix-run (--policy wasmer, --policy default)..."
    for n in "${names[@]}"; do
      for policy in wasmer default; do
        out="$work/$policy/$n"
        (cd "$root" && timeout -k 5 "$timeout_s" "$bin" --policy "$policy" "$here/scenarios/$n.wat") \
          >"$out.stdout" 2>"$out.stderr" </dev/null
        status=$?
        {
          cat "$out.stdout"
          if [ -s "$out.stdout" ] && [ "$(tail -c 1 "$out.stdout" | od -An -c | tr -d ' ')" != '\n' ]; then echo; fi
          echo "exit $status"
        } >"$out.out"
      done
    done
  fi
fi

# ---- (d) compare ----
# known-differences.txt: "NAME:CHECK reason" or "NAME reason" (every check);
# CHECK is ref, wasmer or default; '#' starts a comment.
known() { # known NAME CHECK -> prints the reason, status 0 when listed
  awk -v n="$1" -v c="$2" '
    /^[[:space:]]*(#|$)/ { next }
    { split($1, k, ":"); if (k[1] == n && (k[2] == "" || k[2] == c)) { $1 = ""; sub(/^ /, ""); print; found = 1; exit } }
    END { exit !found }' "$here/known-differences.txt" 2>/dev/null
}
# verdict NAME CHECK GOT WANT -> ok | ok(listed) | known | spec | DIFF | -
# A listed wasmer difference with an expected/NAME.wasmer-policy file (what the
# original `wasmer` table gives) must match that file: "spec", else DIFF.
verdict() {
  local n="$1" c="$2" got="$3" want="$4" policy="$here/expected/$1.wasmer-policy"
  if [ ! -f "$got" ] || [ ! -f "$want" ]; then echo "-"; return; fi
  if cmp -s "$got" "$want"; then
    if known "$n" "$c" >/dev/null; then echo "ok(listed)"; else echo "ok"; fi
  elif known "$n" "$c" >/dev/null; then
    if [ "$c" = wasmer ] && [ -f "$policy" ]; then
      if cmp -s "$got" "$policy"; then echo "spec"; else echo "DIFF"; fi
    else
      echo "known"
    fi
  else
    echo "DIFF"
  fi
}
crashed() { grep -q '^runner error: reference crashed or hung$' "$1" 2>/dev/null; }

fail=0 pass=0
printf '%-28s %-12s %-12s %-12s\n' scenario "ref" "wasmer" "default"
printf '%-28s %-12s %-12s %-12s\n' "--------" "---" "------" "-------"
for n in "${names[@]}"; do
  rec="$here/expected/$n.wasmer"
  live="$work/ref/$n.out"
  rv="-" wv="-" dv="-"
  if [ $ref = 1 ]; then
    if crashed "$live" && ! cmp -s "$live" "$rec"; then
      if known "$n" ref >/dev/null; then rv="crash(known)"; else rv="CRASH"; fi
      live="$rec"
    else
      rv="$(verdict "$n" ref "$live" "$rec")"
    fi
  else
    live="$rec"
  fi
  echo "$live" >"$work/want-wasmer-$n"
  if [ "$ours_state" = ran ]; then
    wv="$(verdict "$n" wasmer "$work/wasmer/$n.out" "$live")"
    dv="$(verdict "$n" default "$work/default/$n.out" "$here/expected/$n.default")"
  fi
  for v in "$rv" "$wv" "$dv"; do
    case "$v" in
      DIFF|CRASH) fail=$((fail + 1)) ;;
      ok|ok\(listed\)|known|spec|crash\(known\)) pass=$((pass + 1)) ;;
    esac
  done
  printf '%-28s %-12s %-12s %-12s\n' "$n" "$rv" "$wv" "$dv"
done

# Show what differed (unlisted mismatches only).
for n in "${names[@]}"; do
  for c in ref wasmer default; do
    case $c in
      ref) got="$work/ref/$n.out"; want="$here/expected/$n.wasmer" ;;
      wasmer) got="$work/wasmer/$n.out"; want="$(cat "$work/want-wasmer-$n")" ;;
      default) got="$work/default/$n.out"; want="$here/expected/$n.default" ;;
    esac
    [ -f "$got" ] && [ -f "$want" ] || continue
    cmp -s "$got" "$want" && continue
    if known "$n" $c >/dev/null; then
      [ $c = wasmer ] && [ -f "$here/expected/$n.wasmer-policy" ] || continue
      want="$here/expected/$n.wasmer-policy"
      cmp -s "$got" "$want" && continue
    fi
    echo
    echo "== $n ($c): diff expected actual"
    diff "$want" "$got" | head -20
    err="$work/$c/$n.stderr"
    if [ -s "$err" ]; then echo "-- stderr:"; head -8 "$err"; fi
  done
done

echo
case "$ours_state" in
  missing) echo "our half skipped: ./cmd/wasix-run does not exist yet" ;;
  broken) echo "our half skipped: ./cmd/wasix-run does not build" ;;
esac
echo "conformance: $pass passed, $fail failed"
if [ $fail -gt 0 ]; then exit 1; fi
case "$ours_state" in missing|broken) exit 3 ;; esac
exit 0
