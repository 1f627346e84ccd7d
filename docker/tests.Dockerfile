# The cross-service suite in a container, against a running deployment: docker-compose.yml's `tests`
# service (profile `tests`), `docker compose --profile tests up --exit-code-from tests`.
#
# It holds the suite's two test binaries (tests/suite/scenarios.rs and browser.rs, built in release), the
# `portal` binary (the scenarios run `portal changepassword` and `createsuperuser` against the deployment's
# database), the Django site of tests/django/peer with the pinned Django 5.2 venv, and Debian's chromium
# and chromium-driver. With SUITE_PORTAL_URL and SUITE_API_URL set, the suite starts only the Django site
# and uses the running portal and api (tests/src/lib.rs, `Stack::start`); the scenarios that need a
# deployment of their own settings (engines, key rotation, rich session data, mail files) run in
# `make test` instead: docker/run-suite.sh names the ones that run here.
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

# The suite's test binaries, from the same target cache (the workspace's features are the same, so only the
# suite's own crates and its test-only dependencies compile here). The newest binary of each name is the
# one just built (the cache mount may hold older ones).
FROM builder AS suite-builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN --mount=type=cache,id=django-rs-sessions-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=django-rs-sessions-target,target=/src/target,sharing=locked \
    cargo test --release --locked --workspace --no-run --test scenarios --test browser \
    && mkdir -p /out/suite \
    && for test in scenarios browser; do \
        newest=$(find target/release/deps -maxdepth 1 -type f -executable -name "$test-*" -printf '%T@ %p\n' \
            | sort -rn | head -n 1 | cut -d ' ' -f 2) \
        && cp "$newest" "/out/suite/$test"; \
    done

FROM ${BASE_IMAGE}
ARG SOURCE_URL=https://github.com/django-rs-sessions/django-rs-sessions
# Where pip finds the CA bundle, for builds behind a TLS-inspecting proxy (scripts/containers.sh passes
# the host's); empty: pip's own.
ARG PIP_CERT=
LABEL org.opencontainers.image.title="tests" \
      org.opencontainers.image.description="The cross-service suite against a running portal and api, with a real Django and Chromium" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="BSD-3-Clause"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Python for the Django site, libpq-free (psycopg[binary] brings its own), and the browser. Not pinned:
# Debian's stable packages are the versions this image means.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv chromium chromium-driver \
    && rm -rf /var/lib/apt/lists/*

# The suite finds tests/django at the path it was compiled in (the builder's /src).
COPY tests/django/ /src/tests/django/
RUN if [ -n "$PIP_CERT" ]; then export PIP_CERT; else unset PIP_CERT; fi \
    && python3 -m venv /opt/django \
    && /opt/django/bin/pip install --no-cache-dir --disable-pip-version-check --quiet \
        -r /src/tests/django/requirements-5.2.txt

COPY --from=builder /out/portal /usr/local/bin/portal
COPY --from=suite-builder /out/suite/ /usr/local/lib/suite/
COPY docker/run-suite.sh /usr/local/bin/run-suite

RUN groupadd --system --gid 10001 tests \
    && useradd --system --uid 10001 --gid tests --home-dir /home/tests --create-home --shell /usr/sbin/nologin tests \
    && mkdir -p /work \
    && chown tests:tests /work
USER 10001:10001
WORKDIR /work
ENV DJANGO_PYTHON=/opt/django/bin/python \
    DJANGO_EXPECTED_VERSION=5.2 \
    SUITE_BIN_DIR=/usr/local/bin \
    SUITE_LOG_DIR=/work/logs \
    SUITE_ARTIFACTS_DIR=/work/artifacts
ENTRYPOINT ["/usr/local/bin/run-suite"]
