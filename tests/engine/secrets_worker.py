"""Run by test_secrets.py in a fresh process, so litellm's import-time logging is covered too.

Everything is logged at DEBUG (root logger) to stderr and to WORKDIR/engine.log; the cache and a
snapshot go to WORKDIR. The fake key sits in PROMPTLSP_FAKE_KEY and OPENAI_API_KEY. Calls fail
with auth errors whose text echoes the key, then succeed (by api_key_env, by litellm's usual
variable, and through a Router deployment). Prints one JSON line on stdout and nothing else.

Usage: python secrets_worker.py WORKDIR
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from promptlsp.engine import Engine, ModelSpec, RetryPolicy
from promptlsp.testing.openai_stub import StubServer

KEY_ENV = "PROMPTLSP_FAKE_KEY"


async def main(workdir: Path) -> dict:
    engine = Engine(workdir / "cache.sqlite", retry=RetryPolicy(base_delay=0.01, max_delay=0.02))
    session = engine.session()
    summary: dict = {"failures": [], "ok": 0}
    with StubServer(api_key="sk-the-only-accepted-key-000") as guarded, StubServer() as open_server:
        for spec in (
            ModelSpec(model="openai/m", api_base=guarded.url, api_key_env=KEY_ENV),
            ModelSpec(model="openai/m", api_base=guarded.url),  # OPENAI_API_KEY, litellm's usual
            ModelSpec(model="openai/m", api_base=guarded.url, api_key_env=KEY_ENV,
                      deployments=({"model": "openai/m2", "api_base": guarded.url, "api_key": f"os.environ/{KEY_ENV}"},)),
        ):
            result = await session.complete(spec, "fail please")
            summary["failures"].append({"kind": result.failure.kind, "message": result.failure.message})
            logging.getLogger("secrets_worker").error("failure: %r", result)
        summary["guarded_saw_key"] = any(os.environ[KEY_ENV] in h for h in guarded.stats.auth_headers)
        for spec in (
            ModelSpec(model="openai/m", api_base=open_server.url, api_key_env=KEY_ENV, seed=1),
            ModelSpec(model="openai/m", api_base=open_server.url, seed=2),
            ModelSpec(model="openai/m", api_base=open_server.url, api_key_env=KEY_ENV, seed=3,
                      deployments=({"model": "openai/m2", "api_base": open_server.url, "api_key": f"os.environ/{KEY_ENV}"},)),
        ):
            result = await session.complete(spec, "succeed please", schema={"type": "object"})
            summary["ok"] += result.ok
            logging.getLogger("secrets_worker").info("success: %r", result)
        summary["open_saw_key"] = all(os.environ[KEY_ENV] in h for h in open_server.stats.auth_headers)
    (workdir / "snapshot.json").write_text(json.dumps(session.accounting.snapshot()))
    engine.close()
    return summary


if __name__ == "__main__":
    workdir = Path(sys.argv[1])
    logging.basicConfig(
        level=logging.DEBUG,
        handlers=[logging.StreamHandler(sys.stderr), logging.FileHandler(workdir / "engine.log")],
    )
    print(json.dumps(asyncio.run(main(workdir))), flush=True)
