#!/usr/bin/env bash
# The package works once installed: builds the wheel from the checkout's files, installs it in a
# fresh virtualenv outside the checkout, and runs `broker` from an empty folder with no
# PYTHONPATH, so nothing can come from the checkout but what the wheel holds.
#
# The dependencies come from a wheelhouse (BROKER_WHEELHOUSE, default
# ~/.cache/oslo-share-broker/wheelhouse), filled from the package index once and again only when
# pyproject.toml's dependencies change; the install itself is offline (--no-index).
# Run by deploy/test.sh; alone: bash deploy/wheel-check.sh [--demo]
# --demo also runs `broker demo` from the wheel, with its state (and Kafka's jars, fetched with
# Maven) in a temporary folder: needs Java 17 and Maven, and takes a minute or two.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
PYTHON="${PYTHON:-python3}"
WHEELHOUSE="${BROKER_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/oslo-share-broker/wheelhouse}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wheel-check.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT
[[ "$WORK" != "$ROOT"/* ]] || { echo "wheel-check: $WORK is inside the checkout" >&2; exit 1; }

now_ms() { date +%s%3N; }
T0=$(now_ms)
step() {
  local ms=$(($(now_ms) - T0))
  printf 'wheel-check: %-62s at %3d.%d s\n' "$1" $((ms / 1000)) $((ms % 1000 / 100))
}
fail() { echo "wheel-check: FAILED: $*" >&2; exit 1; }

# 1. The wheel, from a copy of the files git knows (tracked, or new and not ignored): a stale
#    build/ or a file only this machine has cannot end up in it.
mkdir -p "$WORK/src" "$WORK/dist"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done \
  | xargs -0 cp --parents -t "$WORK/src")
"$PYTHON" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log" >&2; fail "building the wheel"; }
WHEEL="$(echo "$WORK"/dist/oslo_share_broker-*.whl)"
[[ -f "$WHEEL" ]] || fail "no wheel in $WORK/dist"
step "built $(basename "$WHEEL")"

# 2. The dependencies' wheels, fetched once per set of dependencies.
WANT="$("$PYTHON" -c 'import json, sys, tomllib
print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' \
  "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
fill_wheelhouse() {
  mkdir -p "$WHEELHOUSE"
  "$PYTHON" -m pip wheel -q -w "$WHEELHOUSE" "$WHEEL" >"$WORK/wheelhouse.log" 2>&1 \
    || { cat "$WORK/wheelhouse.log" >&2; fail "filling the wheelhouse $WHEELHOUSE"; }
  rm -f -- "$WHEELHOUSE"/oslo_share_broker-*.whl  # only the dependencies are kept
  echo "$WANT" >"$WHEELHOUSE/.dependencies.sha256"
  step "filled the wheelhouse $WHEELHOUSE"
}
[[ "$(cat "$WHEELHOUSE/.dependencies.sha256" 2>/dev/null || true)" == "$WANT" ]] || fill_wheelhouse

# 3. A fresh virtualenv outside the checkout (no system site-packages), the wheel installed
#    offline by this Python's pip (--python: ensurepip in the new one would add 5-8 s).
"$PYTHON" -m venv --without-pip "$WORK/venv"
VENV_PY="$WORK/venv/bin/python"
install() {
  "$PYTHON" -m pip --python "$VENV_PY" install -q --no-index --find-links "$WHEELHOUSE" \
    "$WHEEL" >"$WORK/install.log" 2>&1
}
if ! install; then  # a wheelhouse that lost a file: fill it again, once
  fill_wheelhouse
  install || { cat "$WORK/install.log" >&2; fail "installing the wheel"; }
fi
step "installed it in a fresh virtualenv ($WORK/venv)"

# 4. Run it from an empty folder, as a user who has only the wheel and a policy directory.
mkdir -p "$WORK/elsewhere" "$WORK/home"
cd "$WORK/elsewhere"
run() { env -u PYTHONPATH -u BROKER_POLICY_DIR -u BROKER_STATE_DIR -u XDG_DATA_HOME \
  -u KAFKA_LIB_DIR HOME="$WORK/home" "$@"; }
SITE="$(run "$VENV_PY" -c 'import broker, pathlib; print(pathlib.Path(broker.__file__).parent)')"
[[ "$SITE" == "$WORK/venv/"* ]] || fail "broker was imported from $SITE, not the virtualenv"
run "$VENV_PY" -c 'from broker.adapters import examples
from broker.adapters.kafka.local import SCRIPT
assert SCRIPT.is_file() and examples.valid() and examples.invalid(), "package data missing"' \
  || fail "the wheel lacks the local Kafka script or the example notices"
before="$(find "$SITE" -type f -not -name '*.pyc' | sort | sha256sum)"

run "$WORK/venv/bin/broker" --help >"$WORK/help.txt" \
  || { cat "$WORK/help.txt"; fail "broker --help"; }
grep -q "policy" "$WORK/help.txt" || fail "broker --help lists no policy command"
step "broker --help"

if run "$WORK/venv/bin/broker" policy check >"$WORK/nopolicy.txt" 2>&1 \
  || ! grep -q BROKER_POLICY_DIR "$WORK/nopolicy.txt"; then
  cat "$WORK/nopolicy.txt"
  fail "without a policy directory, broker policy check should fail naming BROKER_POLICY_DIR"
fi
run BROKER_POLICY_DIR="$ROOT/policies" COLUMNS=200 "$WORK/venv/bin/broker" policy check \
  >"$WORK/check.txt" 2>&1 || { cat "$WORK/check.txt"; fail "broker policy check"; }
grep -q "^policies OK" "$WORK/check.txt" || { cat "$WORK/check.txt"; fail "no 'policies OK'"; }
step "broker policy check (BROKER_POLICY_DIR=policies/ of the checkout)"

# The state goes to the user's data directory, never into the installed package.
run "$WORK/venv/bin/broker" keys generate --broker >/dev/null || fail "broker keys generate --broker"
[[ -f "$WORK/home/.local/share/oslo-share-broker/keys/registry.yaml" ]] \
  || fail "broker keys generate wrote no registry under ~/.local/share/oslo-share-broker"
[[ "$(find "$SITE" -type f -not -name '*.pyc' | sort | sha256sum)" == "$before" ]] \
  || fail "running broker changed files inside the installed package"
step "state in ~/.local/share/oslo-share-broker, none in site-packages"

if [[ "${1:-}" == --demo ]]; then
  # the real HOME: Maven's repository (~/.m2) is there
  env -u PYTHONPATH -u KAFKA_LIB_DIR BROKER_POLICY_DIR="$ROOT/policies" \
    BROKER_STATE_DIR="$WORK/state" "$WORK/venv/bin/broker" demo || fail "broker demo"
  step "broker demo (BROKER_STATE_DIR in $WORK)"
fi
echo "wheel-check: ok"
