#!/usr/bin/env bash
# A pinned Python venv, made once: scripts/venv.sh <venv directory> <requirements file>
#
# The venv is (re)made when it is missing or its requirements file changed since it was made (a copy is kept
# in <venv>/.requirements); otherwise nothing happens. Used for the Django oracles (tests/django/
# setup-venvs.sh), the linters and the load bench's FastAPI reference (Makefile), and podman-compose
# (scripts/containers.sh). PYTHON names the interpreter (default python3).
set -euo pipefail
(($# == 2)) || {
  echo "usage: scripts/venv.sh <venv directory> <requirements file>" >&2
  exit 2
}
venv=$1
req=$2
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
echo "setting up $venv"
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
