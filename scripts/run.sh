#!/usr/bin/env bash
# `make run`: Redis, PostgreSQL, the portal and the api on 127.0.0.1, with nothing to do first.
#
#   scripts/run.sh                      build, start everything, print the URLs; Ctrl-C stops everything
#   scripts/run.sh portal <args...>     `portal <args>` with the same settings and data (createsuperuser,
#   scripts/run.sh api <args...>        changepassword, ...); Redis and PostgreSQL are started if they are
#                                       not running, and stopped again afterwards; the services are not
#
# Redis and PostgreSQL are the machine's own binaries (on Debian/Ubuntu, `apt-get install redis-server
# postgresql` is run when one is missing; elsewhere the script says what to install), each running as our
# child on its own port, never the system's service. Everything they keep is in the data folder (`.data/`):
#
#   .data/postgres     the cluster (initdb on the first run; trust auth, 127.0.0.1 only, no Unix socket)
#   .data/redis        Redis's dump.rdb, so sessions survive a restart
#   .data/secret_key   SECRET_KEY, 50 random characters made on the first run (never printed)
#   .data/log/*.log    each process's output
#
# `rm -rf .data` starts again from nothing.
#
# Environment (each optional):
#   REDIS_PORT, POSTGRES_PORT, PORTAL_PORT, API_PORT   the 127.0.0.1 ports: 6380, 5433, 8000, 8001 (not
#                                        6379/5432, so that a system Redis or PostgreSQL may keep running)
#   any setting of the README (SECRET_KEY, DATABASE_URL, SESSION_ENGINE, ...)   wins over ours
#   RUN_DATA_DIR     the data folder (default: .data at the repository root)
#   RUN_BIN_DIR      where the portal and api binaries are (default: target/debug, or $CARGO_TARGET_DIR/debug)
#   RUN_NO_BUILD=1   do not run `cargo build --workspace --bins` first
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT
# The database the services (and a Django project beside them) use.
readonly DB_NAME=django_rs_sessions

say() { printf '%s\n' "$*"; }
warn() { printf 'run.sh: %s\n' "$*" >&2; }
die() {
  warn "$@"
  exit 1
}
# The end of a log, for a process that failed.
log_tail() {
  printf -- '--- the last lines of %s ---\n' "$1" >&2
  tail -n 30 "$1" >&2 || true
}

usage() {
  cat <<'EOF'
usage: scripts/run.sh                  start Redis, PostgreSQL, the portal and the api (Ctrl-C stops them)
       scripts/run.sh portal <args...>   run `portal <args>` with the same settings and data
       scripts/run.sh api <args...>      run `api <args>` with the same settings and data
EOF
}

MODE=serve
COMMAND_BIN=
case "${1-}" in
  "") ;;
  portal | api)
    MODE="command"
    COMMAND_BIN=$1
    shift
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac

# ---- the servers' binaries -------------------------------------------------------------------------------

IS_ROOT=false
[[ $(id -u) == 0 ]] && IS_ROOT=true

REDIS_SERVER=$(command -v redis-server || true)

# The major version a PostgreSQL bin directory holds ("pg_ctl (PostgreSQL) 15.14 (Debian ...)" -> 15).
pg_major() {
  "$1/pg_ctl" --version 2>/dev/null | sed -n 's/.*(PostgreSQL) \([0-9][0-9]*\).*/\1/p'
}

# The bin directory of a PostgreSQL: the version that made the data folder's cluster if it is installed,
# else the newest found. Debian/Ubuntu keep it in /usr/lib/postgresql/<major>/bin (not on PATH), Homebrew
# in .../opt/postgresql@<major>/bin, RHEL in /usr/pgsql-<major>/bin.
find_pg_bin() {
  local want=$1 dir major best="" best_major=0 candidates=()
  for dir in /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /opt/homebrew/opt/postgresql@*/bin \
    /usr/local/opt/postgresql@*/bin; do
    [[ -x $dir/initdb && -x $dir/pg_ctl ]] && candidates+=("$dir")
  done
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    candidates+=("$(dirname "$(command -v pg_ctl)")")
  fi
  [[ ${#candidates[@]} -gt 0 ]] || return 0
  for dir in "${candidates[@]}"; do
    major=$(pg_major "$dir")
    [[ -n $major ]] || continue
    if [[ -n $want && $major == "$want" ]]; then
      printf '%s\n' "$dir"
      return 0
    fi
    if ((major > best_major)); then
      best=$dir
      best_major=$major
    fi
  done
  [[ -z $want ]] && printf '%s\n' "$best"
  return 0
}

DATA_DIR=${RUN_DATA_DIR:-$ROOT/.data}
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd -P)
readonly DATA_DIR
# How the data folder is named in messages: relative to the repository when it is inside it.
DATA_SHOWN=${DATA_DIR#"$ROOT"/}
readonly PG_DIR=$DATA_DIR/postgres REDIS_DIR=$DATA_DIR/redis LOG_DIR=$DATA_DIR/log
mkdir -p "$REDIS_DIR" "$LOG_DIR"

PG_WANT=
[[ -f $PG_DIR/PG_VERSION ]] && PG_WANT=$(<"$PG_DIR/PG_VERSION")
PG_BIN=$(find_pg_bin "$PG_WANT")

if [[ -z $REDIS_SERVER || -z $PG_BIN ]]; then
  missing=()
  [[ -n $REDIS_SERVER ]] || missing+=(redis-server)
  [[ -n $PG_BIN ]] || missing+=(postgresql)
  if [[ -n $PG_WANT && -z $PG_BIN ]] && find_pg_bin "" | grep -q .; then
    die "$DATA_SHOWN/postgres was made by PostgreSQL $PG_WANT, which is not installed: install it," \
      "or remove $DATA_SHOWN/postgres to start with an empty database"
  fi
  if [[ -f /etc/debian_version ]] && command -v apt-get >/dev/null; then
    sudo=()
    if ! $IS_ROOT; then
      command -v sudo >/dev/null || die "missing ${missing[*]}: install with: apt-get install -y ${missing[*]}"
      sudo=(sudo)
    fi
    say "Installing ${missing[*]} (Debian packages; the system services they start are not used)..."
    "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    REDIS_SERVER=$(command -v redis-server || true)
    PG_BIN=$(find_pg_bin "$PG_WANT")
    [[ -n $REDIS_SERVER && -n $PG_BIN ]] || die "redis-server or PostgreSQL still not found after apt-get install"
  else
    cat >&2 <<EOF
run.sh: missing: ${missing[*]}. Install Redis (redis-server) and PostgreSQL (initdb, pg_ctl, postgres, psql):
  Debian/Ubuntu:  sudo apt-get install redis-server postgresql
  Fedora/RHEL:    sudo dnf install redis postgresql-server
  Arch:           sudo pacman -S redis postgresql
  Alpine:         sudo apk add redis postgresql
  macOS:          brew install redis postgresql@15
                  (postgresql@15 is keg-only: this script finds it in \$(brew --prefix)/opt/postgresql@15/bin)
Only the binaries are needed: the system services need not run (this script starts its own).
EOF
    exit 1
  fi
fi

# PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user (Debian's package
# makes it), which must own the cluster and be able to reach it.
as_pg() {
  if ! $IS_ROOT; then
    "$@"
  elif command -v runuser >/dev/null; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && su -s /bin/bash postgres -c "$(printf '%q ' "$@")")
  fi
}

# ---- the data folder -------------------------------------------------------------------------------------

readonly KEY_FILE=$DATA_DIR/secret_key
if [[ ! -s $KEY_FILE ]]; then
  # Django's get_random_secret_key(): 50 characters of a-z, 0-9 and !@#$%^&*(-_=+)
  key=
  while ((${#key} < 50)); do
    key+=$(head -c 1024 /dev/urandom | LC_ALL=C tr -dc 'a-z0-9!@#$%^&*()_=+-')
  done
  (umask 077 && printf '%s' "${key:0:50}" >"$KEY_FILE.new")
  mv "$KEY_FILE.new" "$KEY_FILE"
  unset key
fi

if $IS_ROOT; then
  id -u postgres >/dev/null 2>&1 ||
    die "PostgreSQL refuses to run as root and there is no postgres user to run it as: run as another user"
fi

if [[ ! -f $PG_DIR/PG_VERSION ]]; then
  say "Creating the PostgreSQL cluster in $DATA_SHOWN/postgres..."
  mkdir -p "$PG_DIR"
  if $IS_ROOT; then
    chown postgres: "$PG_DIR"
    as_pg test -w "$PG_DIR" ||
      die "PostgreSQL runs as the postgres user here (it refuses root), and postgres cannot reach $PG_DIR:" \
        "make its parent folders traversable (chmod o+x), or point RUN_DATA_DIR at a folder it can reach"
  fi
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 --no-locale \
    >"$LOG_DIR/initdb.log" 2>&1; then
    log_tail "$LOG_DIR/initdb.log"
    die "initdb failed"
  fi
  # Listen on 127.0.0.1 only, without a Unix socket (its default folder is the system server's, and a
  # socket path in the data folder may be too long); trust only there. The port is given at each start.
  cat >>"$PG_DIR/postgresql.conf" <<'EOF'

# scripts/run.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
EOF
  cat >"$PG_DIR/pg_hba.conf" <<'EOF'
# scripts/run.sh: TCP from 127.0.0.1 only (the server listens nowhere else), without a password.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  trust
EOF
fi

# ---- ports -----------------------------------------------------------------------------------------------

REDIS_PORT=${REDIS_PORT:-6380}
POSTGRES_PORT=${POSTGRES_PORT:-5433}
PORTAL_PORT=${PORTAL_PORT:-8000}
API_PORT=${API_PORT:-8001}
PORTAL_BIND=${PORTAL_BIND:-127.0.0.1:$PORTAL_PORT}
API_BIND=${API_BIND:-127.0.0.1:$API_PORT}
# A bind address given in the environment wins: the URLs and checks follow it.
PORTAL_PORT=${PORTAL_BIND##*:}
API_PORT=${API_BIND##*:}
url_host() {
  local host=${1%:*}
  case $host in "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;; esac
  printf '%s' "$host"
}
PORTAL_HOST=$(url_host "$PORTAL_BIND")
API_HOST=$(url_host "$API_BIND")

# Whether something accepts connections on 127.0.0.1:<port>.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_port() {
  local port=$1 what=$2 variable=$3
  if port_in_use "$port"; then
    die "port $port ($what) is taken: something already listens on 127.0.0.1:$port." \
      "Stop it, or choose another port: $variable=<port> make run"
  fi
}

# The first line of an HTTP/1.0 GET's answer.
http_status_line() {
  (
    exec 3<>"/dev/tcp/$1/$2"
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
    IFS= read -r -t 2 line <&3
    printf '%s' "$line"
  ) 2>/dev/null || true
}

redis_pong() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 line <&3
    [[ $line == +PONG* ]]
  ) 2>/dev/null
}

# ---- stopping ---------------------------------------------------------------------------------------------

PORTAL_PID="" API_PID="" REDIS_PID="" PG_PID="" SLEEP_PID=""
STARTED_REDIS=false STARTED_PG=false OWN_LOCK=false

# SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_postgres() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast -w -t 30 stop >/dev/null 2>&1 ||
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

# On every exit: stop what this run started, the services first.
cleanup() {
  set +e
  trap '' INT TERM
  [[ -n $SLEEP_PID ]] && kill "$SLEEP_PID" 2>/dev/null
  stop_pid "$API_PID"
  stop_pid "$PORTAL_PID"
  $STARTED_REDIS && stop_pid "$REDIS_PID"
  $STARTED_PG && stop_postgres
  $OWN_LOCK && rm -f "$DATA_DIR/run.pid"
}
trap cleanup EXIT

on_signal() {
  [[ $MODE == serve ]] || exit 130
  say ""
  say "Stopping the api, the portal, Redis and PostgreSQL..."
  cleanup
  trap - EXIT
  say "Stopped."
  exit 0
}
trap on_signal INT TERM

# ---- Redis and PostgreSQL ----------------------------------------------------------------------------------

if [[ $MODE == serve ]]; then
  if [[ -f $DATA_DIR/run.pid ]] && kill -0 "$(<"$DATA_DIR/run.pid")" 2>/dev/null; then
    die "already running on $DATA_SHOWN (pid $(<"$DATA_DIR/run.pid")): stop that one first (Ctrl-C)"
  fi
  echo $$ >"$DATA_DIR/run.pid"
  OWN_LOCK=true
  check_port "$PORTAL_PORT" portal PORTAL_PORT
  check_port "$API_PORT" api API_PORT
fi

BIN_DIR=${RUN_BIN_DIR:-}
if [[ -z $BIN_DIR ]]; then
  target=${CARGO_TARGET_DIR:-target}
  [[ $target == /* ]] || target=$ROOT/$target
  BIN_DIR=$target/debug
fi
if [[ ${RUN_NO_BUILD:-} != 1 ]]; then
  command -v "${CARGO:-cargo}" >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
  # --workspace, not -p: the same feature resolution as `cargo test --workspace`, so nothing is rebuilt.
  quiet=()
  [[ $MODE == command ]] && quiet=(--quiet)
  (cd "$ROOT" && "${CARGO:-cargo}" build --workspace --bins "${quiet[@]+"${quiet[@]}"}")
fi
for bin in portal api; do
  [[ -x $BIN_DIR/$bin ]] || die "$BIN_DIR/$bin is missing: build it (cargo build --workspace --bins)"
done

# Redis: already running if its pid file names a live process that answers on the port it was started on
# (another run.sh started it; its port is read back), else started now.
if [[ -f $REDIS_DIR/redis.pid ]] && kill -0 "$(<"$REDIS_DIR/redis.pid")" 2>/dev/null &&
  [[ -f $REDIS_DIR/port ]] && redis_pong "$(<"$REDIS_DIR/port")"; then
  REDIS_PID=$(<"$REDIS_DIR/redis.pid")
  REDIS_PORT=$(<"$REDIS_DIR/port")
  [[ $MODE == serve ]] && STARTED_REDIS=true # this run owns it now, and stops it
else
  check_port "$REDIS_PORT" Redis REDIS_PORT
  rm -f "$REDIS_DIR/redis.pid"
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --save "60 1" \
    --appendonly no --daemonize no --pidfile "$REDIS_DIR/redis.pid" \
    </dev/null >"$LOG_DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  STARTED_REDIS=true
  echo "$REDIS_PORT" >"$REDIS_DIR/port"
  for ((i = 0; ; i++)); do
    redis_pong "$REDIS_PORT" && break
    if ! kill -0 "$REDIS_PID" 2>/dev/null || ((i >= 300)); then
      log_tail "$LOG_DIR/redis.log"
      die "Redis did not start on 127.0.0.1:$REDIS_PORT"
    fi
    sleep 0.1
  done
fi

# PostgreSQL: the same; its port is read back from postmaster.pid when it already runs. It runs as our
# child (not through `pg_ctl start`, which detaches it), so that it gets our Ctrl-C and is reaped when it ends.
if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
  POSTGRES_PORT=$(sed -n 4p "$PG_DIR/postmaster.pid")
  [[ $MODE == serve ]] && STARTED_PG=true
else
  check_port "$POSTGRES_PORT" PostgreSQL POSTGRES_PORT
  as_pg "$PG_BIN/postgres" -D "$PG_DIR" -p "$POSTGRES_PORT" </dev/null >"$LOG_DIR/postgres.log" 2>&1 &
  pg_child=$!
  STARTED_PG=true
  # Ready when it accepts connections (the port opens before recovery ends).
  for ((i = 0; ; i++)); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -d postgres -U postgres && break
    if ! kill -0 "$pg_child" 2>/dev/null || ((i >= 600)); then
      log_tail "$LOG_DIR/postgres.log"
      die "PostgreSQL did not start on 127.0.0.1:$POSTGRES_PORT"
    fi
    sleep 0.1
  done
fi
PG_PID=$(sed -n 1p "$PG_DIR/postmaster.pid")

psql_admin() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -tA -c "$1"
}
if [[ $(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") != 1 ]]; then
  psql_admin "CREATE DATABASE $DB_NAME" >/dev/null
fi

# ---- the settings ------------------------------------------------------------------------------------------

# Ours unless the environment has one: a variable already set wins, to try other settings.
from_env=()
setting() {
  if [[ -n ${!1:-} ]]; then
    from_env+=("$1")
  else
    printf -v "$1" '%s' "$2"
  fi
  export "${1?}"
}
SECRET_KEY=${SECRET_KEY:-}
[[ -n $SECRET_KEY ]] && from_env+=(SECRET_KEY)
[[ -n $SECRET_KEY ]] || SECRET_KEY=$(<"$KEY_FILE")
export SECRET_KEY
setting REDIS_URL "redis://127.0.0.1:$REDIS_PORT/0"
setting DATABASE_URL "postgres://postgres@127.0.0.1:$POSTGRES_PORT/$DB_NAME"
setting SESSION_ENGINE cache
setting ALLOWED_HOSTS "127.0.0.1,localhost"
setting EMAIL_BACKEND console
setting TIME_ZONE UTC
# The home page's links to the api, which runs on its own port.
setting API_URL "http://$API_HOST:$API_PORT/api/v1/"
export PORTAL_BIND API_BIND
if [[ ${#from_env[@]} -gt 0 ]]; then
  say "From your environment (instead of run.sh's): ${from_env[*]}"
fi

# ---- a command ---------------------------------------------------------------------------------------------

if [[ $MODE == command ]]; then
  if [[ "$COMMAND_BIN ${1-}" != "portal migrate" ]] &&
    ! "$BIN_DIR/portal" migrate >"$LOG_DIR/migrate.log" 2>&1; then
    cat "$LOG_DIR/migrate.log" >&2
    die "portal migrate failed"
  fi
  status=0
  "$BIN_DIR/$COMMAND_BIN" "$@" || status=$?
  exit "$status"
fi

# ---- the services ------------------------------------------------------------------------------------------

say "Migrating (portal migrate)..."
"$BIN_DIR/portal" migrate

"$BIN_DIR/portal" serve </dev/null >"$LOG_DIR/portal.log" 2>&1 &
PORTAL_PID=$!
"$BIN_DIR/api" serve </dev/null >"$LOG_DIR/api.log" 2>&1 &
API_PID=$!

# A service that stopped: its exit status and the end of its log, then everything stops (exit 1).
service_died() {
  local name=$1 pid=$2 status=0
  wait "$pid" 2>/dev/null || status=$?
  log_tail "$LOG_DIR/$name.log"
  die "$name stopped (exit status $status); stopping everything"
}

for service in portal api; do
  if [[ $service == portal ]]; then
    pid=$PORTAL_PID host=$PORTAL_HOST port=$PORTAL_PORT
  else
    pid=$API_PID host=$API_HOST port=$API_PORT
  fi
  for ((i = 0; ; i++)); do
    [[ $(http_status_line "$host" "$port" /healthz) == "HTTP/1."?" 200"* ]] && break
    kill -0 "$pid" 2>/dev/null || service_died "$service" "$pid"
    if ((i >= 600)); then
      log_tail "$LOG_DIR/$service.log"
      die "$service did not answer http://$host:$port/healthz within 60 s"
    fi
    sleep 0.1
  done
done

PORTAL_URL=http://$PORTAL_HOST:$PORTAL_PORT
API_URL_SHOWN=http://$API_HOST:$API_PORT
# The command to make a user must find this data folder.
data_prefix=
[[ -n ${RUN_DATA_DIR:-} ]] && data_prefix="RUN_DATA_DIR=$(printf '%q' "$DATA_DIR") "
cat <<EOF

Running (Redis on 127.0.0.1:$REDIS_PORT, PostgreSQL on 127.0.0.1:$POSTGRES_PORT, data and logs in $DATA_SHOWN/):
  portal     $PORTAL_URL/
  log in     $PORTAL_URL/accounts/login/
  api        $API_URL_SHOWN/api/v1/me
  api docs   $API_URL_SHOWN/api/v1/docs/
Create a user:  ${data_prefix}scripts/run.sh portal createsuperuser
(mails, such as password resets, are printed to $DATA_SHOWN/log/portal.log). Ctrl-C stops everything.
EOF

# Until a signal, or until a process stops by itself.
while true; do
  kill -0 "$PORTAL_PID" 2>/dev/null || service_died portal "$PORTAL_PID"
  kill -0 "$API_PID" 2>/dev/null || service_died api "$API_PID"
  if ! kill -0 "$REDIS_PID" 2>/dev/null; then
    log_tail "$LOG_DIR/redis.log"
    die "Redis stopped; stopping everything"
  fi
  if ! kill -0 "$PG_PID" 2>/dev/null; then
    log_tail "$LOG_DIR/postgres.log"
    die "PostgreSQL stopped; stopping everything"
  fi
  sleep 1 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
done
