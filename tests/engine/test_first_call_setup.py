"""The per-call timeout times the request alone: litellm's import and the imports it would do
during its first request happen in ``prepare``, before the clock starts. Checked in a fresh
process (imports are per process): after ``prepare`` the first request imports nothing."""

import json
import os
import subprocess
import sys

FIRST_CALL = r"""
import asyncio, json, sys
from promptlsp.engine import Engine, ModelSpec
from promptlsp.engine.litellm_backend import LiteLLMBackend
from promptlsp.testing.openai_stub import StubServer

class Watched(LiteLLMBackend):
    imported = []
    async def complete(self, request):
        before = set(sys.modules)
        try:
            return await super().complete(request)
        finally:
            self.imported += sorted(set(sys.modules) - before)

async def main():
    with StubServer(latency=0.0) as server:
        backend = Watched()
        plain = ModelSpec(model="openai/stub", api_base=server.url, api_key_env="STUB_KEY", timeout=30)
        routed = ModelSpec(model="openai/stub", api_base=server.url, api_key_env="STUB_KEY", timeout=30,
                           deployments=({"model": "openai/stub", "api_base": server.url,
                                         "api_key": "os.environ/STUB_KEY"},))
        session = Engine(None, backend).session()
        results = [await session.complete(plain, "first"), await session.complete(routed, "second")]
        print(json.dumps({"ok": [r.ok for r in results], "imported": backend.imported}))

asyncio.run(main())
"""


def test_the_first_request_pays_no_imports_inside_its_timeout(tmp_path) -> None:
    env = {**os.environ, "STUB_KEY": "sk-stub-not-a-secret", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] == [True, True]
    assert [m for m in out["imported"] if m.split(".")[0] in ("litellm", "openai", "httpx", "aiohttp")] == []


async def test_prepare_builds_the_router_of_a_model_with_deployments(litellm_warm) -> None:
    from promptlsp.engine import ModelSpec
    from promptlsp.engine.litellm_backend import LiteLLMBackend

    backend = LiteLLMBackend()
    spec = ModelSpec(model="openai/x", api_base="http://127.0.0.1:9", api_key_env="STUB_KEY",
                     deployments=({"model": "openai/x", "api_base": "http://127.0.0.1:8", "api_key": "os.environ/K"},))
    await backend.prepare(spec)
    assert len(backend._routers) == 1
    await backend.prepare(spec)
    assert len(backend._routers) == 1  # memoized
