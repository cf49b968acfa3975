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

# The simulation report's render test opens the report in headless Chromium (tests/simulation). Without a
# browser that one test is skipped, so the rest of the suite still runs where Chromium cannot be had.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium not found: installing Debian's chromium package (about a minute)" >&2
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then
      echo "could not install chromium: the report render test will be skipped" >&2
    fi
  else
    echo "chromium is not installed: the simulation report's render test will be skipped." >&2
    echo "Install it to run it, e.g. 'sudo apt-get install chromium' (Debian/Ubuntu)." >&2
  fi
fi

echo "== ruff" >&2
ruff check .
echo "== mypy" >&2
mypy
echo "== pytest" >&2
exec python -m pytest "$@"
