#!/bin/sh
# Entrypoint of the local postgres stand-in (postgres.Dockerfile), with the official image's interface:
# on the first start (PGDATA empty) it creates the cluster with POSTGRES_USER (default postgres) as its
# superuser, POSTGRES_PASSWORD (required) as that user's password, and the database POSTGRES_DB (default:
# the user's name). PGPORT is read by postgres, pg_ctl and psql themselves.
set -eu
# `postgres -c fsync=off`: options alone are arguments for postgres, as the official image reads them.
case "${1:-}" in -*) set -- postgres "$@" ;; esac
# `postgres --version` and the like only print: no cluster for them (as the official image's _pg_want_help).
init=${1:-}
for arg; do
    case "$arg" in -'?' | --help | -V | --version | --describe-config | -C) init= ;; esac
done
if [ "$init" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (as for the official postgres image)}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    # As the official image: listen on every address of the container, and ask every TCP client for the
    # password. On a shared (host) network, pass `-c listen_addresses=127.0.0.1`.
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    # The database is created by a server on the Unix socket only, so that nothing answers on TCP (where
    # health checks look) before the real start.
    pg_ctl --wait --silent -o "-c listen_addresses=''" start
    if [ "$db" != postgres ]; then
        psql --quiet -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres --set=db="$db" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
    pg_ctl --wait --silent --mode=fast stop
fi
exec "$@"
