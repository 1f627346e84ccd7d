#!/usr/bin/env bash
# A pinned Python venv, made once: scripts/venv.sh <venv directory> <requirements file>
#
# The venv is (re)made when it is missing, its requirements file changed since it was made (a copy is kept
# in <venv>/.requirements), or its Python is not the one PYTHON names (another version or installation:
# compared by sys.version and sys.base_prefix); otherwise nothing happens. Used for the Django oracles
# (tests/django/setup-venvs.sh, which picks PYTHON per Django version), the linters and the load bench's
# FastAPI reference (Makefile), and podman-compose (scripts/containers.sh). PYTHON names the interpreter
# (default python3).
set -euo pipefail
(($# == 2)) || {
  echo "usage: scripts/venv.sh <venv directory> <requirements file>" >&2
  exit 2
}
venv=$1
req=$2
python=${PYTHON:-python3}
stamp="$venv/.requirements"
identity='import sys; print(sys.version); print(sys.base_prefix)'
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  ours=$("$venv/bin/python" -c "$identity" 2>/dev/null || true)
  wanted=$("$python" -c "$identity")
  if [ -n "$ours" ] && [ "$ours" = "$wanted" ]; then
    exit 0
  fi
fi
echo "setting up $venv ($("$python" -c 'import sys; print(sys.version.split()[0])'))"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
