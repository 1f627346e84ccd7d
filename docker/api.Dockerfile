# The JSON API (the user, the session, the user's sessions): `docker build -f docker/api.Dockerfile .`
#
# The base images are build arguments so that this one file serves both GitHub (registry images, the
# defaults) and machines without a registry, where scripts/containers.sh passes images it built itself
# (localhost/debian:bookworm from debootstrap, and a Rust builder made from it).
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# ---- builder -------------------------------------------------------------------------------------------
# This stage is the same text in portal.Dockerfile and api.Dockerfile, byte for byte, and builds both
# binaries: the second image's build then finds every builder layer in the cache and compiles nothing.
# Keep the two copies identical (scripts/containers.sh checks it).
#
# Only what `cargo build` reads is copied (the workspace manifests, the crates, the suite's manifest and
# sources, which `--locked` needs to resolve the workspace), so editing docs or tests/django does not
# invalidate the build. The cache mounts keep crates.io downloads and the target directory between builds
# of the same machine; the binaries are copied out of the mounted target/ in the same step.
# CARGO_HOME is /usr/local/cargo in rust:1-bookworm, and the local builder image sets the same.
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
COPY tests/Cargo.toml tests/
COPY tests/src/ tests/src/
COPY tests/suite/ tests/suite/
RUN --mount=type=cache,id=django-rs-sessions-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=django-rs-sessions-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin portal --bin api \
    && mkdir -p /out \
    && cp target/release/portal target/release/api /out/
# ---- end of the shared builder stage ------------------------------------------------------------------

# The runtime: the binary needs only glibc, libgcc_s and zlib, which every Debian image has.
FROM ${BASE_IMAGE}
ARG SOURCE_URL=https://github.com/django-rs-sessions/django-rs-sessions
LABEL org.opencontainers.image.title="api" \
      org.opencontainers.image.description="A JSON API authenticated by the sessions and users a Django project shares" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="BSD-3-Clause"

# Mozilla's roots for rediss:// (rustls reads the system bundle). Copied from the builder, which has
# Debian's ca-certificates, rather than installed here: apt's ca-certificates pulls in openssl and libssl3
# (9 MB) to produce this one 200 kB file.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# A fixed numeric uid, so `USER` can be checked by runAsNonRoot-style policies without reading /etc/passwd.
RUN groupadd --system --gid 10001 api \
    && useradd --system --uid 10001 --gid api --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin api
COPY --from=builder /out/api /usr/local/bin/api
USER 10001:10001

EXPOSE 8001
# Liveness only (/healthz); readiness (/readyz: Redis and PostgreSQL answer) is for the orchestrator's own
# probe, or a Redis outage would mark every replica unhealthy. The image has no curl: bash, which every
# Debian image has, speaks enough HTTP through /dev/tcp, where curl with --no-install-recommends would add
# 12 MB (16 packages: libcurl4, libssl3, Kerberos, LDAP, libssh2, ...) to answer this one question.
# The port is the one CMD binds; a deployment that binds another overrides this check (docker-compose.host.yml).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8001 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/api"]
CMD ["serve", "--bind", "0.0.0.0:8001"]
