"""Run by test_cache.py in separate processes: N scripted calls through a shared cache file.

Usage: python cache_worker.py CACHE_PATH FIRST LAST  -> prints {"calls": n, "hits": n, "ok": n}
"""

from __future__ import annotations

import asyncio
import json
import sys

from promptlsp.engine import Engine, ModelSpec, ScriptedBackend


async def main(cache_path: str, first: int, last: int) -> None:
    backend = ScriptedBackend(lambda request: "answer to " + request["messages"][-1]["content"])
    engine = Engine(cache_path=cache_path, backend=backend)
    session = engine.session()
    spec = ModelSpec(model="openai/scripted", seed=3, temperature=0, concurrency=4)
    results = await asyncio.gather(*(session.complete(spec, f"question {i}") for i in range(first, last)))
    engine.close()
    ok = sum(r.ok and r.text == f"answer to question {i}" for i, r in zip(range(first, last), results))
    print(json.dumps({"calls": backend.calls, "hits": session.accounting.total.cache_hits, "ok": ok}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
