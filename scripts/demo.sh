#!/usr/bin/env bash
# The README's first command: set up on a fresh machine and run `edgeprof demo`.
# Extra arguments go to `edgeprof demo` (for example --out DIR).
set -euo pipefail
source "$(dirname "$0")/_venv.sh" pipeline
exec .venv/bin/edgeprof demo "$@"
