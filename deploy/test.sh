#!/usr/bin/env bash
# The test command: lint (ruff), types (mypy, strict on the core), then every test. The
# integration tests start the local Kafka (and PostgreSQL for the auditor store) themselves
# when they are not running, and stop them after. Debian's chromium and postgresql are
# installed first if missing (needs root; see deploy/system-deps.sh).
source "$(dirname -- "${BASH_SOURCE[0]}")/venv.sh"
bash deploy/system-deps.sh
echo "== ruff check"; ruff check .
echo "== mypy"; mypy
echo "== pytest"; exec pytest "$@"
