# Sourced by demo.sh and test.sh: make (or reuse) .venv and install edgeprof with the given extra.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extra="$1"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "edgeprof needs Python 3.10+ on the host (the agent alone runs on 3.8+)")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.edgeprof-$extra-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setting up .venv (edgeprof[$extra]) ..."
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extra]"
  touch "$stamp"
fi
