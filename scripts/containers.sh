#!/usr/bin/env bash
# The images and the compose stack, built and run for real on a machine with no Docker engine and no
# registry (Debian 12, root, podman; see /work/shared/containers-here.md): what `make test-containers`
# runs there. GitHub builds the same Dockerfiles from registry images; here every base is made locally:
#
#   1. podman, runc, debootstrap, uidmap, slirp4netns, curl (and python3-venv) from apt, only those missing;
#   2. localhost/debian:bookworm by debootstrap, once (kept: later runs skip it);
#   3. from it, stand-ins for rust:1-bookworm, redis and postgres (docker/local/; cached by podman);
#   4. the portal and api images from docker/{portal,api}.Dockerfile, with RUST_IMAGE and BASE_IMAGE
#      pointing at those, the host's Rust toolchain mounted read-only; then their sizes;
#   5. docker-compose.yml + docker-compose.host.yml under podman-compose (pinned, in .venv/podman-compose),
#      every service on its own free 127.0.0.1 port, started in depends_on order, each waited for until
#      its health check passes;
#   6. a smoke check from the host: health, readiness, an anonymous api call, a superuser made with
#      `portal createsuperuser --noinput`, a login through the portal's form, and the api seeing that user.
#
# The stack is always torn down (volumes too), with the services' logs first if anything failed. Exit
# status: 0 when every check passed, 1 when a step or a check failed. Test traffic stays on loopback.
#
# Environment: RUST_TOOLCHAIN_DIR (default: `rustc --print sysroot`, the toolchain this checkout uses),
# DEBIAN_MIRROR (default: the host's, from /etc/apt/sources.list.d/debian.sources).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Podman's settings for these sandboxes (runc, lower ulimits), from the project rather than /etc.
export CONTAINERS_CONF="$ROOT/docker/local/containers.conf"

BASE_IMAGE=localhost/debian:bookworm
LOCAL=localhost/django-rs-sessions
BUILDER_IMAGE=$LOCAL/rust-builder:bookworm
REDIS_IMAGE=$LOCAL/redis:bookworm
POSTGRES_IMAGE=$LOCAL/postgres:bookworm
IMAGE_TAG=local
PORTAL_IMAGE=$LOCAL/django-rs-sessions/portal:$IMAGE_TAG
API_IMAGE=$LOCAL/django-rs-sessions/api:$IMAGE_TAG
TESTS_IMAGE=$LOCAL/django-rs-sessions/tests:$IMAGE_TAG
COMPOSE_VENV=$ROOT/.venv/podman-compose
PROJECT=django-rs-sessions-local
HOST_CA=/etc/ssl/certs/ca-certificates.crt

WORK=$(mktemp -d)
STACK=
TIMINGS=()
PHASE=
PHASE_START=0

phase() {
    [[ -z $PHASE ]] || TIMINGS+=("$(printf '%-52s %5ss' "$PHASE" $((SECONDS - PHASE_START)))")
    PHASE=$1
    PHASE_START=$SECONDS
    [[ -z $PHASE ]] || printf '\n==> %s\n' "$PHASE"
}

die() {
    printf 'containers.sh: %s\n' "$*" >&2
    exit 1
}

pc() {
    "$COMPOSE_VENV/bin/podman-compose" --project-name "$PROJECT" --env-file "$ENV_FILE" \
        -f docker-compose.yml -f docker-compose.host.yml "$@"
}

# The container of a compose service, by podman-compose's labels.
container_of() {
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    phase ''
    if [[ -n $STACK ]]; then
        if ((rc != 0)); then
            local svc ctr
            for svc in redis postgres migrate portal api; do
                ctr=$(container_of "$svc") || true
                [[ -n $ctr ]] || continue
                printf '\n---- %s: last lines of its log\n' "$svc"
                podman logs --tail 40 "$ctr" 2>&1 || true
            done
        fi
        printf '\n==> tearing the stack down\n'
        pc down -v >"$WORK/down.log" 2>&1 || cat "$WORK/down.log"
    fi
    rm -rf "$WORK"
    if ((${#TIMINGS[@]})); then
        printf '\n==> timings\n'
        printf '  %s\n' "${TIMINGS[@]}"
    fi
    printf '\ncontainers.sh: %s\n' "$([[ $rc == 0 ]] && echo ok || echo "FAILED (exit $rc)")"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ $EUID == 0 ]] || die "run as root (apt, debootstrap and podman's root storage), as on the CI machines"

# ---- 1. packages -----------------------------------------------------------------------------------------
phase 'packages'
missing=()
for pkg in podman runc debootstrap uidmap slirp4netns curl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# The podman-compose venv needs ensurepip, which Debian's python3 keeps in python3-venv.
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "all present"
fi
podman --version

# ---- 2. the Debian base image ----------------------------------------------------------------------------
phase "base image $BASE_IMAGE"
if podman image exists "$BASE_IMAGE"; then
    echo "present (podman rmi $BASE_IMAGE to rebuild it)"
else
    if [[ -z ${DEBIAN_MIRROR:-} ]]; then
        DEBIAN_MIRROR=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' \
            /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    fi
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    rootfs=$WORK/rootfs
    echo "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log"; die "debootstrap failed"; }
    # What debian:bookworm-slim does on top of a minbase: the updates and security suites, no manuals,
    # documentation or translations now or in later apt installs, no package lists or .debs left behind.
    security_mirror=${DEBIAN_MIRROR%/debian}/debian-security
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/* \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi

# ---- 3. the local stand-ins ------------------------------------------------------------------------------
# --format docker: the OCI image format has no HEALTHCHECK, and podman would drop the images' checks.
build() {
    podman build --format docker --layers --quiet "$@"
}

phase 'stand-in images (rust builder, redis, postgres)'
build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$BUILDER_IMAGE" -f docker/local/rust-builder.Dockerfile docker/local
build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$REDIS_IMAGE" -f docker/local/redis.Dockerfile docker/local
build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$POSTGRES_IMAGE" -f docker/local/postgres.Dockerfile docker/local

# ---- 4. the portal and api images ------------------------------------------------------------------------
phase 'images (portal, api, tests)'
# The shared builder stage must stay the same text in both files, or the second build recompiles.
builder_stage() { sed -n '/^# ---- builder/,/^# ---- end of the shared builder stage/p' "$1"; }
cmp -s <(builder_stage docker/portal.Dockerfile) <(builder_stage docker/api.Dockerfile) ||
    die "the builder stages of docker/portal.Dockerfile and docker/api.Dockerfile differ"
TOOLCHAIN=${RUST_TOOLCHAIN_DIR:-$(rustc --print sysroot)}
[[ -x $TOOLCHAIN/bin/cargo && -x $TOOLCHAIN/bin/rustc ]] || die "no cargo and rustc in $TOOLCHAIN/bin"
echo "toolchain: $("$TOOLCHAIN/bin/rustc" --version) from $TOOLCHAIN"
cmp -s <(builder_stage docker/portal.Dockerfile) <(builder_stage docker/tests.Dockerfile) ||
    die "the builder stages of docker/portal.Dockerfile and docker/tests.Dockerfile differ"
for svc in portal api tests; do
    start=$SECONDS
    image=$PORTAL_IMAGE
    [[ $svc == api ]] && image=$API_IMAGE
    [[ $svc == tests ]] && image=$TESTS_IMAGE
    podman build --format docker --layers \
        -v "$TOOLCHAIN:/toolchain:ro" -v "$HOST_CA:/host-ca.crt:ro" \
        --build-arg "RUST_IMAGE=$BUILDER_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --build-arg "PIP_CERT=/host-ca.crt" \
        -f "docker/$svc.Dockerfile" -t "$image" . >"$WORK/build-$svc.log" 2>&1 ||
        { tail -n 40 "$WORK/build-$svc.log"; die "building $image failed"; }
    echo "$image built in $((SECONDS - start)) s"
done

printf '\n%-58s %10s %12s\n' image size bytes
for image in "$BASE_IMAGE" "$BUILDER_IMAGE" "$REDIS_IMAGE" "$POSTGRES_IMAGE" "$PORTAL_IMAGE" "$API_IMAGE" "$TESTS_IMAGE"; do
    printf '%-58s %10s %12s\n' "$image" \
        "$(podman image ls --format '{{.Size}}' "$image" | head -n 1)" \
        "$(podman image inspect --format '{{.Size}}' "$image")"
done

storage=$(podman info --format '{{.Store.GraphRoot}}')
echo "podman storage ($storage): $(du -sh "$storage" | cut -f 1)"
# Buildah keeps the Dockerfiles' cache mounts (crates.io downloads, the release target/) here; deleting it
# costs one full build.
[[ ! -d ${TMPDIR:-/var/tmp}/buildah-cache ]] ||
    echo "build cache mounts (${TMPDIR:-/var/tmp}/buildah-cache): $(du -sh "${TMPDIR:-/var/tmp}/buildah-cache" | cut -f 1)"

# ---- 5. the stack ----------------------------------------------------------------------------------------
phase 'podman-compose (pinned in docker/local/podman-compose-requirements.txt)'
bash "$ROOT/scripts/venv.sh" "$COMPOSE_VENV" "$ROOT/docker/local/podman-compose-requirements.txt"
"$COMPOSE_VENV/bin/podman-compose" --version | head -n 1

phase 'stack up (redis, postgres, migrate, portal, api)'
read -r REDIS_PORT POSTGRES_PORT PORTAL_PORT API_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
# A throwaway env file in .env's place (a developer's own .env is left alone); exported as well, because
# compose lets the environment win over the env file.
ENV_FILE=$WORK/env
cat >"$ENV_FILE" <<EOF
ENV_FILE=$ENV_FILE
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
POSTGRES_USER=django
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
POSTGRES_DB=django
IMAGE_REGISTRY=localhost
GITHUB_REPOSITORY=django-rs-sessions/django-rs-sessions
IMAGE_TAG=$IMAGE_TAG
REDIS_IMAGE=$REDIS_IMAGE
POSTGRES_IMAGE=$POSTGRES_IMAGE
REDIS_PORT=$REDIS_PORT
POSTGRES_PORT=$POSTGRES_PORT
PORTAL_PORT=$PORTAL_PORT
API_PORT=$API_PORT
ALLOWED_HOSTS=127.0.0.1,localhost
SESSION_ENGINE=cache
SESSION_COOKIE_NAME=shared_session_id
DJANGO_VERSION=5.2
EOF
set -a
# shellcheck source=/dev/null
. "$ENV_FILE"
set +a
echo "ports on 127.0.0.1: redis $REDIS_PORT, postgres $POSTGRES_PORT, portal $PORTAL_PORT, api $API_PORT"

# podman runs health checks from systemd timers, and these machines have no systemd; podman-compose also
# ignores `condition: service_healthy` before podman 4.6 (Debian 12 has 4.3). So the services are started
# in docker-compose.yml's depends_on order, and each health check is run here until it passes.
wait_healthy() {
    local svc ctr deadline state
    for svc; do
        ctr=$(container_of "$svc")
        [[ -n $ctr ]] || die "no container for $svc"
        deadline=$((SECONDS + 90))
        until podman healthcheck run "$ctr" >/dev/null 2>&1; do
            state=$(podman inspect --format '{{.State.Status}}' "$ctr")
            [[ $state == running ]] || die "$svc is $state, not running"
            ((SECONDS < deadline)) || die "$svc still not healthy after 90 s"
            sleep 1
        done
        echo "$svc healthy"
    done
}

STACK=up
pc down -v >/dev/null 2>&1 || true # a previous run's leftovers, if it was killed
pc up -d --no-build redis postgres >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; die "starting redis and postgres failed"; }
wait_healthy redis postgres
pc run --rm --no-deps migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; die "portal migrate failed"; }
echo "migrate: $(grep -v '^\s*$' "$WORK/migrate.log" | tail -n 1)"
pc up -d --no-build --no-deps portal api >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; die "starting the portal and the api failed"; }
wait_healthy portal api

# ---- 6. the smoke check ----------------------------------------------------------------------------------
phase 'smoke check'
bash "$ROOT/scripts/smoke.sh" "http://127.0.0.1:$PORTAL_PORT" "http://127.0.0.1:$API_PORT" \
    "$COMPOSE_VENV/bin/podman-compose" --project-name "$PROJECT" --env-file "$ENV_FILE" \
    -f docker-compose.yml -f docker-compose.host.yml exec -T -e DJANGO_SUPERUSER_PASSWORD portal portal

# ---- 7. the cross-service suite, from its own container ---------------------------------------------------
phase 'the cross-service suite (the tests service)'
pc --profile tests run --rm --no-deps tests
phase ''
