#!/usr/bin/env bash
# System packages the tests need beyond Python and Java, from Debian (idempotent; run as root):
#   chromium     the auditor page's end-to-end test drives it with Playwright (never downloaded)
#   postgresql   the auditor store's PostgreSQL tests (deploy/postgres.sh runs a private cluster)
#   faketime     deploy/test.sh runs the unit tests again with the clock moved ahead (libfaketime)
#   kcat         the hostile producer in tests/integration/hostile.py sends what no Python client
#                can: a record header whose key is not UTF-8
set -euo pipefail

missing=()
command -v chromium >/dev/null || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
command -v faketime >/dev/null || missing+=(faketime)
command -v kcat >/dev/null || missing+=(kcat)
if ((${#missing[@]} == 0)); then
    echo "system-deps.sh: chromium, postgresql, faketime and kcat present"
    exit 0
fi
[[ $EUID -eq 0 ]] || { echo "system-deps.sh: need root to install ${missing[*]}" >&2; exit 1; }
echo "system-deps.sh: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system-deps.sh: installed ${missing[*]}"
