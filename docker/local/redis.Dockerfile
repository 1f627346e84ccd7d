# A stand-in for the official `redis` image on machines with no registry (scripts/containers.sh builds it
# as localhost/django-rs-sessions/redis): Debian's redis-server behind an entrypoint that takes the same
# arguments as the official image's (`redis-server ...`, or options alone).
ARG BASE_IMAGE=localhost/debian:bookworm
FROM ${BASE_IMAGE}
# Unpinned: a stable point release removes the old versions from the mirror, and a stand-in only has to
# be bookworm's.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
# By name: its uid is whichever Debian's package gave it.
# hadolint ignore=DL3066
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
