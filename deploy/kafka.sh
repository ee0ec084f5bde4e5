#!/usr/bin/env bash
# The checkout's local Kafka: runs the script the package ships
# (broker/adapters/kafka/local/kafka.sh; `bash deploy/kafka.sh help` lists its commands) with the
# checkout's places, unless given others: jars in deploy/kafka/lib and data in deploy/kafka/var
# (both git-ignored), credentials in var/kafka-credentials, recipients from policies/, and this
# checkout's broker package run by .venv/bin/python.
set -euo pipefail
REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
export KAFKA_LIB_DIR="${KAFKA_LIB_DIR:-$REPO/deploy/kafka/lib}"
export KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$REPO/deploy/kafka/var}"
export KAFKA_CREDENTIALS_DIR="${KAFKA_CREDENTIALS_DIR:-$REPO/var/kafka-credentials}"
export BROKER_POLICY_DIR="${BROKER_POLICY_DIR:-$REPO/policies}"
if [[ -z "${KAFKA_PYTHON:-}" && -x "$REPO/.venv/bin/python" ]]; then
  export KAFKA_PYTHON="$REPO/.venv/bin/python"
fi
# the checkout's package first, whichever one the Python has installed
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
exec bash "$REPO/broker/adapters/kafka/local/kafka.sh" "$@"
