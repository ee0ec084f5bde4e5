#!/usr/bin/env bash
# The test command: lint (ruff), types (mypy, strict on the core), then every test. The
# integration tests start the local Kafka themselves when it is not running, and stop it after.
source "$(dirname -- "${BASH_SOURCE[0]}")/venv.sh"
echo "== ruff check"; ruff check .
echo "== mypy"; mypy
echo "== pytest"; exec pytest "$@"
