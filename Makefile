# The one entry point for building, testing and benchmarking. CI runs `bash .ci/run`, which calls `make lint`
# and `make test` exactly as a developer would.

CARGO ?= cargo
ROOT := $(abspath .)
DJANGO_61 := $(ROOT)/.venv/django-6.1/bin/python
DJANGO_60 := $(ROOT)/.venv/django-6.0/bin/python
DJANGO_52 := $(ROOT)/.venv/django-5.2/bin/python
DJANGO_42 := $(ROOT)/.venv/django-4.2/bin/python
# The tests that ask a real Django, by kind; `make test` runs each kind on the versions below. Every run
# selects with --workspace (not -p auth), so that features resolve as in the first run and nothing is
# compiled twice.
# - the golden vectors: Django's formats and rules in memory (signing, pickle, hashers, validators);
GOLDEN_TESTS := --test django_core --test pickle_django --test hashers_django \
	--test password_validation_django --test email_validation_django
# - the store tests: the peer Django on the same Redis and PostgreSQL, and the api's auth against Django's
#   middleware;
STORE_TESTS := --test store_django --test auth_matrix
# - the cross-service suite's stories that meet Django: the portal and api binaries beside the Django site.
#   (The browser test and the forward-auth proxies run on 6.1 only: neither depends on Django's version.)
SUITE_TESTS := --test scenarios --test user_models

.PHONY: test test-deps test-containers venvs run fmt lint lint-tools bench bench-tools soak fuzz clean \
	publish-check

## test: the whole suite against Django 6.1 (unit, property, fuzz-corpus replay, golden vectors, the stores,
## and the cross-service suite in tests/: the portal and api binaries beside a real Django site and
## Chromium, nginx and Caddy); then again on Django 5.2 LTS the golden vectors, the store tests and the
## cross-service scenarios and user models;
## on 6.0 the golden vectors and the store tests; on 4.2 (past its support) the golden
## vectors only. See README.md, "Django versions".
test: test-deps venvs
	DJANGO_PYTHON=$(DJANGO_61) DJANGO_EXPECTED_VERSION=6.1 $(CARGO) test --workspace
	DJANGO_PYTHON=$(DJANGO_52) DJANGO_EXPECTED_VERSION=5.2 $(CARGO) test --workspace \
		$(GOLDEN_TESTS) $(STORE_TESTS) $(SUITE_TESTS)
	DJANGO_PYTHON=$(DJANGO_60) DJANGO_EXPECTED_VERSION=6.0 $(CARGO) test --workspace \
		$(GOLDEN_TESTS) $(STORE_TESTS)
	DJANGO_PYTHON=$(DJANGO_42) DJANGO_EXPECTED_VERSION=4.2 $(CARGO) test --workspace $(GOLDEN_TESTS)

## publish-check: `cargo publish --dry-run` of the two library crates (packaged, then built from the
## package alone), as crates.io would take them; CI runs it after `make test`. A package is built as a
## workspace of its own, without this workspace's profiles: the --config flags give it the same ones, so
## the dependencies `make test` compiled are reused instead of compiled again. Cargo takes a crate of a
## registry as unchanging: what it unpacked and compiled of an earlier dry run's core, same version, would
## pass for this one (the web crate verified against old code), so those copies and the two crates'
## fingerprints are removed first (the next build compiles the two crates again; nothing else).
PUBLISH_PROFILE := --config 'profile.dev.opt-level=1' --config 'profile.dev.debug="line-tables-only"' \
	--config 'profile.dev.package."*".opt-level=2' --config 'profile.dev.package."*".debug=false'
publish-check:
	rm -rf $${CARGO_HOME:-$$HOME/.cargo}/registry/src/-*/django-auth-core-* \
		$${CARGO_HOME:-$$HOME/.cargo}/registry/src/-*/django-auth-web-* \
		$${CARGO_TARGET_DIR:-target}/debug/.fingerprint/django-auth-core-* \
		$${CARGO_TARGET_DIR:-target}/debug/.fingerprint/django-auth-web-*
	$(CARGO) publish --dry-run -p django-auth-core -p django-auth-web $(PUBLISH_PROFILE)

## test-deps: the Debian packages the tests need (Redis, PostgreSQL, Chromium, …), installed before anything
## compiles; elsewhere, or without root or sudo, a message naming each missing one
test-deps:
	@bash scripts/test-deps.sh

## venvs: the pinned Django oracles in .venv/, each on a Python its Django supports (idempotent; 6.x needs
## Python 3.12 or later, and a missing one stops here naming what to install)
venvs:
	bash tests/django/setup-venvs.sh

## run: Redis, PostgreSQL, the portal and the api on 127.0.0.1, migrated, data and logs in .data/ (ports:
## REDIS_PORT=6380, POSTGRES_PORT=5433, PORTAL_PORT=8000, API_PORT=8001); Ctrl-C stops them all
run:
	CARGO="$(CARGO)" bash scripts/run.sh

fmt:
	$(CARGO) fmt --all

## lint: formatting and clippy with warnings as errors (also django-auth-core's formats alone, without its
## `stores` feature), the library crates' docs without a warning; the Traefik and Envoy forward-auth
## configurations against their schemas (scripts/check-proxy-configs.py; npm fetches tsc); hadolint on the
## Dockerfiles, actionlint on the workflows, and the compose file validated (`docker compose config`, or
## Debian's docker-compose)
LINT_VENV := $(ROOT)/.venv/lint
LINT_REQUIREMENTS := $(ROOT)/.ci/lint-requirements.txt
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
lint: lint-tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p django-auth-core --no-default-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p django-auth-core -p django-auth-web --features django-auth-web/axum
	$(LINT_VENV)/bin/python scripts/check-proxy-configs.py $(ROOT)/.cache/tools/proxy-configs
	$(LINT_VENV)/bin/hadolint docker/*.Dockerfile
	$(LINT_VENV)/bin/actionlint
	SECRET_KEY=lint-only POSTGRES_PASSWORD=lint-only ENV_FILE=.env.example \
		$(COMPOSE) --env-file .env.example -f docker-compose.yml -f docker-compose.host.yml config -q

lint-tools:
	@bash scripts/venv.sh $(LINT_VENV) $(LINT_REQUIREMENTS)

## test-containers: the portal and api images and the compose stack, built and run for real with podman (no
## Docker engine or registry needed: local base images by debootstrap, host networking), then a smoke check
test-containers:
	bash scripts/containers.sh

## bench: criterion benchmarks, printed beside the same operations timed in Python/Django; then
## GET /api/v1/me under load (oha), the api beside the FastAPI reference in benches/fastapi, and
## django-auth-web's axum example's GET /whoami (its CPU per request beside the api's)
bench: venvs bench-tools
	DJANGO_PYTHON=$(DJANGO_52) $(CARGO) bench -p django-auth-core --bench decode
	$(CARGO) bench -p django-auth-core --bench store
	$(CARGO) build --release -p django-auth-web --features axum --example axum_service
	DJANGO_PYTHON=$(DJANGO_52) OHA=$(OHA) BENCH_PYTHON=$(BENCH_VENV)/bin/python \
		$(CARGO) bench -p api --bench load

## soak: the chaos soak, a benchmark (tests/benches/soak.rs): SOAK_SECONDS (300) of mixed traffic from
## SOAK_CLIENTS (8) clients on the portal, the api and Django (release builds), Redis behind Sentinel, while
## Redis fails over or loses its primary and PostgreSQL stops, at random; prints statuses, resurrected
## sessions, lost updates, recovery times and the api's RSS, and fails if a must-be-zero figure is not
soak: test-deps venvs
	$(CARGO) build --release -p portal -p api
	DJANGO_PYTHON=$(DJANGO_61) $(CARGO) bench -p suite --bench soak

# The load bench's tools, each pinned: oha (the load generator, built from crates.io into .cache/tools)
# and .venv/bench, the FastAPI reference's venv (scripts/venv.sh: re-made when its requirements change).
OHA_VERSION := 1.16.0
OHA := $(ROOT)/.cache/tools/bin/oha
BENCH_VENV := $(ROOT)/.venv/bench
BENCH_REQUIREMENTS := $(ROOT)/benches/fastapi/requirements.txt

bench-tools:
	@$(OHA) --version 2>/dev/null | grep -qxF 'oha $(OHA_VERSION)' || \
		$(CARGO) install oha --locked --version $(OHA_VERSION) --root $(ROOT)/.cache/tools
	@bash scripts/venv.sh $(BENCH_VENV) $(BENCH_REQUIREMENTS)

## fuzz: run each cargo-fuzz target to FUZZ_RUNS executions (default 10 million; FUZZ_SECONDS, if set,
## stops it sooner). Needs `cargo install cargo-fuzz`; `make -j2 fuzz` runs the targets side by side. Logs
## and new inputs go to crates/auth/fuzz/scratch/ (ignored); copy a crash into corpus/<target>/ so
## `make test` replays it. See README.md, "Fuzzing".
FUZZ_TARGETS := pickle_loads signing_loads
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 0
# The sanitizer the targets are built with. Both crates forbid `unsafe` code (`#![forbid(unsafe_code)]`), so
# AddressSanitizer has nothing of ours to check and only slows the run (about 3 times): the default is none,
# which still stops on a panic, a timeout, or memory over the RSS limit. FUZZ_SANITIZER=address checks the
# dependencies' unsafe code too.
FUZZ_SANITIZER ?= none
# AddressSanitizer's quarantine (256 MB by default) keeps freed memory to catch a use after free; with
# decodes of up to tens of MB it filled the 1 GB RSS limit. 16 MB still catches a prompt reuse.
FUZZ_ASAN_OPTIONS ?= quarantine_size_mb=16
fuzz: $(addprefix fuzz-,$(FUZZ_TARGETS))
fuzz-%:
	cd crates/auth/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -s $(FUZZ_SANITIZER) $*
	cd crates/auth/fuzz && mkdir -p scratch/$* && ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) \
		RUSTC_BOOTSTRAP=1 cargo fuzz run -s $(FUZZ_SANITIZER) $* scratch/$* corpus/$* -- -runs=$(FUZZ_RUNS) \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		> scratch/$*.log 2>&1 || { tail -n 40 scratch/$*.log; exit 1; }
	@grep -E '^(#[0-9]+.*DONE|stat::)' crates/auth/fuzz/scratch/$*.log | sed 's/^/$*: /'

clean:
	$(CARGO) clean
	rm -rf .venv
