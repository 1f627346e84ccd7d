#!/usr/bin/env bash
# Creates the pinned Django oracles the test suite runs against (relative to the repository root):
#   .venv/django-6.1, .venv/django-6.0, .venv/django-5.2 and .venv/django-4.2,
# each from tests/django/requirements-<version>.txt, with a Python that Django version supports.
# `setup-venvs.sh 6.1 5.2` makes only those.
#
# The interpreter of each is the first that runs and is a version that Django supports, of: python3,
# python3.13, python3.12, python3.11, python3.10 on PATH (pyenv's shims run only the active version), then
# pyenv's installed versions (`pyenv root`, else $PYENV_ROOT or ~/.pyenv), newest first. Django 6.x needs
# 3.12 or later. Python 3.14 is left out on purpose: its pickle.DEFAULT_PROTOCOL is 5, so django-redis
# would write another protocol than on the other versions; the tests configure that case explicitly
# (CACHE_PICKLE_VERSION with django-redis' PICKLE_VERSION). When none is found the script fails, naming
# what to install: the tests never skip a version.
#
# Idempotent: a venv whose requirements file and interpreter have not changed is left alone
# (scripts/venv.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

# The Python minor versions each Django supports (and its pins install on), newest first.
declare -A supported=(
  [6.1]="3.13 3.12"
  [6.0]="3.13 3.12"
  [5.2]="3.13 3.12 3.11 3.10"
  [4.2]="3.12 3.11 3.10"
)
versions=("$@")
((${#versions[@]})) || versions=(6.1 6.0 5.2 4.2)

pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")

# The Python minor version ("3.12") of an interpreter that runs and can make a venv, else nothing.
minor_of() {
  "$1" -c 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# The first interpreter of a supported minor version (see above), else nothing.
find_python() {
  local wanted=" $1 " candidate minor
  local candidates=(python3 python3.13 python3.12 python3.11 python3.10)
  for minor in $1; do
    # pyenv's versions of this minor, the newest patch first.
    while IFS= read -r candidate; do
      candidates+=("$candidate")
    done < <(ls -d "$pyenv_root"/versions/"$minor".*/bin/python3 2>/dev/null | sort -rV)
  done
  for candidate in "${candidates[@]}"; do
    minor=$(minor_of "$candidate")
    if [ -n "$minor" ] && [[ $wanted == *" $minor "* ]]; then
      command -v "$candidate"
      return
    fi
  done
}

for version in "${versions[@]}"; do
  [ -n "${supported[$version]:-}" ] || {
    echo "setup-venvs.sh: no Django $version here (known: ${!supported[*]})" >&2
    exit 2
  }
  python=$(find_python "${supported[$version]}")
  if [ -z "$python" ]; then
    {
      echo "setup-venvs.sh: Django $version needs Python ${supported[$version]// / or } with its venv module;"
      echo "  none found on PATH (python3, python3.13, python3.12, …) or in pyenv ($pyenv_root/versions)."
      echo "  Install one: \`pyenv install 3.13\`, your system's python3.13 (or python3.12) with its venv"
      echo "  package (Debian/Ubuntu: python3.12-venv), or \`actions/setup-python\` on GitHub."
    } >&2
    exit 1
  fi
  PYTHON=$python bash "$root/scripts/venv.sh" "$root/.venv/django-$version" \
    "$root/tests/django/requirements-$version.txt"
done
