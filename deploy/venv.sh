# Sourced by deploy/demo.sh and deploy/test.sh: a project virtualenv with everything installed.
# Re-installs only when pyproject.toml changed. Needs python3 (3.11+); Kafka needs Java 17 + Maven.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${BROKER_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "need Python 3.11 or newer as '$PYTHON'" >&2; exit 1; }
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.installed-pyproject.sha256"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]]; then
  echo "installing the project and its pinned dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
  echo "$WANT" >"$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# The checkout's places, unless the environment names others: state in var/, the checkout's
# policies, and Kafka's jars where deploy/kafka.sh fetches them (the installed package's
# defaults are the user's data directory and ./policies).
export BROKER_STATE_DIR="${BROKER_STATE_DIR:-$ROOT/var}"
export BROKER_POLICY_DIR="${BROKER_POLICY_DIR:-$ROOT/policies}"
export KAFKA_LIB_DIR="${KAFKA_LIB_DIR:-$ROOT/deploy/kafka/lib}"
cd "$ROOT"
