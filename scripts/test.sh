#!/usr/bin/env bash
# The README's second command: set up on a fresh machine, lint, and run the whole test suite.
# Extra arguments go to pytest (for example -k mqtt, or tests/agent).
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
