#!/usr/bin/env bash
# Regenerate requirements.lock (every direct and transitive dependency, pinned, with hashes)
# from pyproject.toml's dependencies + the [local] and [test] extras + the build backend.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "needs uv: pip install uv" >&2; exit 2; }
UV_PYTHON_DOWNLOADS=never uv pip compile pyproject.toml scripts/build-requirements.in --extra local --extra test \
    --generate-hashes --python-version 3.10 --universal --index-url https://pypi.org/simple \
    --no-header -o requirements.lock
