#!/usr/bin/env bash
# Creates the two pinned Django oracles the test suite runs against:
#   .venv/django-5.2 and .venv/django-4.2 (relative to the repository root).
# Idempotent: a venv whose requirements file has not changed is left alone (scripts/venv.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
for version in 5.2 4.2; do
  bash "$root/scripts/venv.sh" "$root/.venv/django-$version" "$root/tests/django/requirements-$version.txt"
done
