#!/usr/bin/env bash
# The smoke check of a running deployment, from outside it: health and readiness of both services, an
# anonymous api call (401 JSON), a superuser made with `portal createsuperuser --noinput`, a login through
# the portal's form, and the api seeing that user.
#
#   scripts/smoke.sh <portal URL> <api URL> <command…>
#
# <command…> runs the deployment's `portal` binary with the arguments appended, and passes
# DJANGO_SUPERUSER_PASSWORD from this environment through to it, e.g.
#   docker compose exec -T -e DJANGO_SUPERUSER_PASSWORD portal portal          (GitHub: ci.yml)
#   podman-compose … exec -T -e DJANGO_SUPERUSER_PASSWORD portal portal        (scripts/containers.sh)
# Exit status: 0 when every check passed, 1 otherwise. Needs curl and python3.
set -euo pipefail

(($# >= 3)) || {
    echo "usage: scripts/smoke.sh <portal URL> <api URL> <command running portal…>" >&2
    exit 2
}
PORTAL=$1
API=$2
shift 2

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
JAR=$WORK/cookies
BODY=$WORK/body
failures=0

check() { # what, expected, actual
    if [[ $2 == "$3" ]]; then
        printf '  ok    %s\n' "$1"
    else
        printf '  FAIL  %s: expected %s, got %s\n' "$1" "$2" "$3"
        failures=$((failures + 1))
    fi
}

# The status of a request (the body in $BODY; cookies kept in $JAR); 000 when there is no answer.
status() {
    curl -sS -o "$BODY" -w '%{http_code}' -b "$JAR" -c "$JAR" "$@" 2>"$WORK/curl.err" || true
}

# A field of the JSON in $BODY, or "not JSON".
json_field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$BODY" "$1" 2>/dev/null ||
        echo "not JSON: $(head -c 200 "$BODY")"
}

check 'portal GET /healthz' 200 "$(status "$PORTAL/healthz")"
check 'portal GET /readyz (Redis and PostgreSQL reachable)' 200 "$(status "$PORTAL/readyz")"
check 'api GET /healthz' 200 "$(status "$API/healthz")"
check 'api GET /readyz' 200 "$(status "$API/readyz")"
check 'api GET /api/v1/me, anonymous' 401 "$(status "$API/api/v1/me")"
check '  ... answered in JSON' 'Authentication credentials were not provided.' "$(json_field detail)"

USERNAME=smoke
DJANGO_SUPERUSER_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
export DJANGO_SUPERUSER_PASSWORD
rc=0
"$@" createsuperuser --noinput --username "$USERNAME" --email smoke@example.com >"$WORK/csu.log" 2>&1 || rc=$?
((rc == 0)) || cat "$WORK/csu.log"
check 'portal createsuperuser --noinput (exit status)' 0 "$rc"

check 'portal GET /accounts/login/' 200 "$(status "$PORTAL/accounts/login/")"
token=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' "$BODY" | head -n 1)
check '  ... the form has a csrfmiddlewaretoken' yes "$([[ -n $token ]] && echo yes || echo no)"
check 'portal POST /accounts/login/ (username, password, token)' 302 "$(status \
    --data-urlencode "username=$USERNAME" --data-urlencode "password=$DJANGO_SUPERUSER_PASSWORD" \
    --data-urlencode "csrfmiddlewaretoken=$token" "$PORTAL/accounts/login/")"
check 'api GET /api/v1/me with the session cookie' 200 "$(status "$API/api/v1/me")"
check '  ... is the user who logged in' "$USERNAME" "$(json_field username)"

if ((failures)); then
    printf '\nsmoke check: %d failed\n' "$failures"
    exit 1
fi
printf '\nsmoke check: all passed\n'
