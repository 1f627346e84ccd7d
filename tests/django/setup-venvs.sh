#!/usr/bin/env bash
# Creates the two pinned Django oracles the test suite runs against:
#   .venv/django-5.2 and .venv/django-4.2 (relative to the repository root).
# Idempotent: a venv whose requirements file has not changed is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
for version in 5.2 4.2; do
  venv="$root/.venv/django-$version"
  req="$root/tests/django/requirements-$version.txt"
  stamp="$venv/.requirements"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
    continue
  fi
  echo "setting up $venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
done
