#!/usr/bin/env bash
# Run the service: installs into .venv on first use, then `omniroute serve` with any arguments given
# (no arguments: embedded in-process ledger and the generated demo network on port 50051).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh ""  # an explicit empty argument: no extras, whatever this script was given
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
exec omniroute serve "$@"
