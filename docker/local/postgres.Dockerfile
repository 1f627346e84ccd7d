# A stand-in for the official `postgres` image on machines with no registry (scripts/containers.sh builds
# it as localhost/django-rs-sessions/postgres): Debian's PostgreSQL 15 behind an entrypoint that reads the
# official image's variables (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA) and arguments.
ARG BASE_IMAGE=localhost/debian:bookworm
FROM ${BASE_IMAGE}
# postgresql-common first, told not to create the "main" cluster Debian makes by default (the official
# image does the same): the entrypoint creates the one cluster, in PGDATA, on first start.
# Unpinned: a stable point release removes the old versions from the mirror, and a stand-in only has to
# be bookworm's.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/^#?\s*create_main_cluster\b.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
    && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# By name: its uid is whichever Debian's package gave it.
# hadolint ignore=DL3066
USER postgres
EXPOSE 5432
# As the official image: postgres shuts down fast (no new sessions, rollback) on SIGINT.
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
