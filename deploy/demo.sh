#!/usr/bin/env bash
# The whole system end to end on the example notices: starts Kafka and a worker, publishes them,
# shows what each recipient received and the audit records, stops what it started.
source "$(dirname -- "${BASH_SOURCE[0]}")/venv.sh"
exec broker demo "$@"
