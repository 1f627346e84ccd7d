#!/usr/bin/env bash
# The tests image's entry point: the scenarios that run against a deployment as it is (no settings of their
# own, no restarts, no reading the portal's mail files), one at a time since they share it, then the
# browser. The others run in `make test`, each on a deployment of its own.
set -euo pipefail
: "${SUITE_PORTAL_URL:?the address of the portal, e.g. http://127.0.0.1:8000}"
: "${SUITE_API_URL:?the address of the api, e.g. http://127.0.0.1:8001}"
status=0
/usr/local/lib/suite/scenarios --test-threads=1 \
    s01_ s02_ s03_ s07_ s09_ s10_ "$@" || status=$?
/usr/local/lib/suite/browser --test-threads=1 || status=$?
exit "$status"
