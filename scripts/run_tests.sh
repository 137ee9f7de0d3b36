#!/usr/bin/env bash
# Set up the virtualenv (if needed) and run the test suite on CPU.
# Usage: bash scripts/run_tests.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup_env.sh" "$VENV"
cd "$ROOT"
# msrun starts the `python` on PATH, so put the venv first.
export PATH="$VENV/bin:$PATH"
# Two pytest-xdist workers (SMARTASSIGN_TEST_WORKERS=0 runs in one process); each test module stays on
# one worker, and the two C++ modules share one (tests/conftest.py).
WORKERS="${SMARTASSIGN_TEST_WORKERS:-2}"
if [ "$WORKERS" = "0" ]; then
  exec "$VENV/bin/python" -m pytest "$@"
fi
exec "$VENV/bin/python" -m pytest -n "$WORKERS" --dist loadgroup "$@"
