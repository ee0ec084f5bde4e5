#!/usr/bin/env bash
# The test command: lint and format (ruff), types (mypy strict over broker, tests and bench),
# then every test. The integration tests start the local Kafka (and PostgreSQL for the auditor
# store) themselves when they are not running, and stop them after. Debian's chromium,
# postgresql and faketime are installed first if missing (needs root; see deploy/system-deps.sh).
# Without arguments the built wheel is then checked outside the checkout (deploy/wheel-check.sh:
# a fresh virtualenv, `broker --help` and `broker policy check` from another folder), and the
# unit tests run again with the clock 400 days ahead (libfaketime), so that a test that depends
# on today's date fails now rather than on some later day.
source "$(dirname -- "${BASH_SOURCE[0]}")/venv.sh"
bash deploy/system-deps.sh
echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"
(($# == 0)) || exit 0  # a chosen subset: the wheel check and the second pass are skipped

echo "== wheel (installed in a fresh virtualenv, run from another folder)"
bash deploy/wheel-check.sh

echo "== pytest (clock +400 days)"
# A relative offset, not a rate change: the clock still ticks at its rate (timeouts and
# hypothesis' deadlines see real durations). Fail if the offset does not reach Python.
REAL_NOW="$(date +%s)" faketime -f '+400d' python -c '
import datetime, os, sys
now = datetime.datetime.now(datetime.UTC)
ahead = (now.timestamp() - int(os.environ["REAL_NOW"])) / 86400
print(f"datetime.now() under faketime: {now:%Y-%m-%d %H:%M} UTC, {ahead:.1f} days ahead")
sys.exit(not 399 < ahead < 401)'
faketime -f '+400d' python -m pytest tests/unit -q -p no:cacheprovider
