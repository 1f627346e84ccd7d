#!/usr/bin/env bash
# What `make test` needs from the machine, before anything compiles: Redis, PostgreSQL and PgBouncer (the test
# kit starts throwaway servers from their binaries), nginx and Caddy (the forward-auth proxies, likewise),
# openssl (the certificates of its TLS servers), Chromium and its driver (the cross-service suite's browser),
# zlib and pkg-config (the build), and Python's venv module (the pinned Django oracles). On Debian (or Ubuntu)
# the missing packages are installed with apt-get (as root, or through sudo); elsewhere, or without either, it
# stops at once naming each missing package.
set -euo pipefail

packages=(zlib1g-dev pkg-config redis-server postgresql pgbouncer openssl nginx caddy)
# Ubuntu's chromium packages are snap stubs: GitHub's runner has Google Chrome and its chromedriver instead,
# which the suite finds through CHROMEWEBDRIVER.
grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null || packages+=(chromium chromium-driver)

missing=()
if command -v dpkg >/dev/null; then
  for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
else
  # Not a Debian system: check the commands themselves.
  for cmd in redis-server initdb pgbouncer openssl nginx caddy chromium chromedriver pkg-config python3; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "make test needs: ${missing[*]} (Redis, PostgreSQL, PgBouncer, openssl, nginx, Caddy, Chromium with chromedriver, pkg-config," >&2
    echo "Python 3 with venv). Install them with your package manager, then run make test again." >&2
    exit 1
  fi
  exit 0
fi

[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "make test needs these Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "Installing what the tests need (Debian packages): ${missing[*]}"
"${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]+"${sudo[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
