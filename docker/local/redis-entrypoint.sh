#!/bin/sh
# Entrypoint of the local redis stand-in (redis.Dockerfile), with the official image's interface.
set -eu
# `redis --port 7000` or `redis /etc/redis.conf`: arguments for redis-server, as the official image reads them.
case "${1:-}" in -* | *.conf) set -- redis-server "$@" ;; esac
if [ "${1:-}" = redis-server ]; then
    shift
    # The official image's redis-server is built with protected mode off, so that other containers can
    # connect without a password; Debian's has it on. Turned off here before the caller's options (which
    # still win), after a config file (which redis-server wants first); not for --version and the like.
    case "${1:-}" in
        -v | --version | -h | --help | --test-memory | --check-system) ;;
        -* | '') set -- --protected-mode no "$@" ;;
        *)
            conf=$1
            shift
            set -- "$conf" --protected-mode no "$@"
            ;;
    esac
    set -- redis-server "$@"
fi
exec "$@"
