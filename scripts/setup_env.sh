#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv and install the pinned requirements.
# Usage: bash scripts/setup_env.sh [VENV_DIR]   (default: <repo>/.venv; env PYTHON picks the interpreter)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${VENV:-$ROOT/.venv}}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -r "$ROOT/requirements-dev.txt"
echo "virtualenv ready: $VENV"
