# A stand-in for rust:1-bookworm on machines with no registry (scripts/containers.sh builds it as
# localhost/django-rs-sessions/rust-builder): Debian's compilers and headers, with the host's Rust
# toolchain mounted read-only at /toolchain during each build, because rustup cannot download one inside a
# container there and Debian's rustc (1.63) is older than the workspace's rust-version:
#
#   podman build -v "$(rustc --print sysroot)":/toolchain:ro \
#       -v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro --build-arg RUST_IMAGE=<this image> ...
#
# The host bundle is for crates.io: HTTPS from a container there meets a proxy whose CA only the host
# trusts. The image's own ca-certificates is Debian's, and is what the runtime stages copy: the proxy's CA
# never reaches an image.
ARG BASE_IMAGE=localhost/debian:bookworm
FROM ${BASE_IMAGE}
# What rust:1-bookworm (buildpack-deps) brings that the build uses: a C compiler and linker (ring, libz-sys,
# the final link), pkg-config and zlib's headers (flate2's zlib feature), and the CA bundle.
# Unpinned: a stable point release removes the old versions from the mirror, and a stand-in only has to
# be bookworm's.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/cargo
# The same CARGO_HOME as rust:1-bookworm, so the Dockerfiles' cache mount (/usr/local/cargo/registry) is
# the right one for both; the toolchain's bin/ is on PATH whether or not it is mounted (without it, cargo
# is simply not found).
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/toolchain/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HTTP_CAINFO=/host-ca.crt
