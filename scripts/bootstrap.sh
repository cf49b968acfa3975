#!/usr/bin/env bash
# Shared set-up for the two commands: a virtual environment in .venv (unless one is active) with
# omniroute installed editable, plus the test extras when asked. Idempotent and quiet when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ -z "${VIRTUAL_ENV:-}" ]; then
  py="${PYTHON:-python3}"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "omniroute needs Python 3.11 or newer (found: $("$py" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
  fi
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
stamp=".venv-installed${extras:+-$extras}"
if [ ! -f "$VIRTUAL_ENV/$stamp" ] || [ pyproject.toml -nt "$VIRTUAL_ENV/$stamp" ]; then
  python -m pip install -q --disable-pip-version-check --upgrade pip
  python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
  touch "$VIRTUAL_ENV/$stamp"
fi
