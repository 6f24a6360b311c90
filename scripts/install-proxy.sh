#!/usr/bin/env bash
# Create .venv-proxy with the LiteLLM proxy (litellm[proxy], every dependency pinned with hashes in
# requirements-proxy.lock). Its own venv: the proxy's extra pins rich<14, promptlsp pins rich 15, so
# the two cannot share one environment — and a team runs the proxy as a service of its own anyway.
# tests/engine/test_litellm_proxy.py starts .venv-proxy/bin/litellm (or $PROMPTLSP_LITELLM_PROXY).
# Idempotent: a second run only re-checks. Regenerate the lock with:
#   uv pip compile scripts/proxy-requirements.in --generate-hashes --python-version 3.10 --universal \
#       --index-url https://pypi.org/simple --no-header -o requirements-proxy.lock
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-proxy/bin/python ] || "$PY" -m venv .venv-proxy
stamp=.venv-proxy/.promptlsp-lock.sha256
want=$(sha256sum requirements-pip.lock requirements-proxy.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv-proxy/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-pip.lock
    .venv-proxy/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-proxy.lock
    echo "$want" > "$stamp"
fi
