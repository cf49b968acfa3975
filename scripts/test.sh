#!/usr/bin/env bash
# Install what the tests need and run the whole suite: ruff, mypy, pytest (unit, contract on every
# ledger backend, property, gRPC end-to-end). Redis tests start their own redis-server on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh test
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's redis-server package" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is required by the Redis ledger tests and is not installed." >&2
    echo "Install it, e.g. 'sudo apt-get install redis-server' (Debian/Ubuntu) or 'brew install redis', then re-run." >&2
    exit 1
  fi
fi

echo "== ruff" >&2
ruff check .
echo "== mypy" >&2
mypy
echo "== pytest" >&2
exec python -m pytest "$@"
