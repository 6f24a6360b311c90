"""Engine throughput against the loopback stub: how close to ideal does fan-out get?

For N calls to a server with a fixed latency and a concurrency limit C, the ideal wall time is
N x latency / C. The table shows the measured wall time, the overhead per call beyond the ideal
((wall - ideal) x C / N: what one call costs besides waiting for the server), the process CPU
per call (on one event loop, N x CPU is a floor on wall time), and how fast cache hits come
back. Rows:

- ``litellm``: the real path (Session -> LiteLLMBackend -> litellm -> HTTP -> stub);
- ``scripted``: the same session machinery, response cache included, with no HTTP (the
  engine's own overhead: the difference to ``litellm`` is litellm, the openai SDK and HTTP);
- ``cache hits``: the litellm run again on a warm cache (zero calls).

``--profile`` adds a cProfile of one litellm run: the CPU per call inside litellm, inside the
openai SDK and the rest, and litellm's costliest functions.

Run: ``python bench/engine.py`` (about half a minute; ``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"
sys.path.insert(0, str(SERVER_DIR))

from promptlsp.engine import Engine, ModelSpec, ScriptedBackend  # noqa: E402
from promptlsp.engine.litellm_backend import _import_litellm  # noqa: E402

KEY_ENV = "PROMPTLSP_BENCH_KEY"


@contextlib.contextmanager
def stub_process(latency: float) -> Iterator[str]:
    """The stub in its own process (in a thread it would share the GIL with the client)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVER_DIR), *sys.path])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptlsp.testing.openai_stub", "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _run(engine: Engine, spec: ModelSpec, calls: int, tag: str,
               profile: cProfile.Profile | None = None) -> tuple[float, float, int]:
    session = engine.session()
    if profile is not None:
        profile.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(session.complete(spec, f"{tag} question {i}") for i in range(calls)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profile is not None:
        profile.disable()
    ok = sum(r.ok for r in results)
    if ok != calls:
        failures = {r.failure.kind for r in results if not r.ok}
        raise SystemExit(f"{calls - ok} calls failed: {failures}")
    return wall, cpu, session.accounting.total.cache_hits


def _row(name: str, calls: int, concurrency: int, latency: float, wall: float, cpu: float) -> dict:
    ideal = calls * latency / concurrency
    return {
        "path": name,
        "calls": calls,
        "concurrency": concurrency,
        "ideal_s": round(ideal, 3),
        "wall_s": round(wall, 3),
        "wall/ideal": round(wall / ideal, 2) if ideal else None,
        "overhead_ms_per_call": round((wall - ideal) * concurrency / calls * 1000, 2) if ideal else None,
        "cpu_ms_per_call": round(cpu / calls * 1000, 2),
        "calls_per_s": round(calls / wall, 1),
    }


def _profile_split(profile: cProfile.Profile, calls: int, top: int = 8) -> dict:
    """CPU ms per call spent inside litellm's and the openai SDK's own code (each function's
    own time, without its callees; the profiler's clock is process CPU time), and litellm's
    ``top`` costliest functions by own time. Profiling slows Python code, so the split, not
    the sum, is what to read."""
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    packages = {"litellm": 0.0, "openai": 0.0, "other": 0.0}
    costliest: list[tuple[float, str]] = []
    for (file, line, name), (_cc, _nc, tottime, _cumtime, _callers) in stats.items():
        where = file.replace(os.sep, "/")
        package = next((p for p in ("litellm", "openai") if f"/site-packages/{p}/" in where), "other")
        packages[package] += tottime
        if package == "litellm":
            costliest.append((tottime, f"{where.split('/site-packages/')[-1]}:{line}({name})"))
    costliest.sort(reverse=True)
    return {
        "profiled_ms_per_call": {k: round(v / calls * 1000, 2) for k, v in packages.items()},
        "litellm_costliest_ms_per_call": [(name, round(t / calls * 1000, 2)) for t, name in costliest[:top]],
    }


async def bench(calls: int, latency: float, concurrencies: list[int], profile: bool = False) -> tuple[list[dict], dict]:
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-secret")
    rows: list[dict] = []
    started = time.perf_counter()
    await asyncio.to_thread(_import_litellm)
    extras: dict = {"litellm_import_s": round(time.perf_counter() - started, 2)}
    with stub_process(latency) as url, tempfile.TemporaryDirectory() as tmp:
        for concurrency in concurrencies:
            spec = ModelSpec(model="openai/bench", api_base=url, api_key_env=KEY_ENV, seed=1,
                             concurrency=concurrency, timeout=30)
            engine = Engine(Path(tmp) / f"cache-{concurrency}.sqlite")
            await _run(engine, spec, concurrency, "warm-up")  # client creation, first connections
            wall, cpu, _ = await _run(engine, spec, calls, "real")
            rows.append(_row("litellm", calls, concurrency, latency, wall, cpu))

            # the same engine machinery and the same kind of cache as the litellm row, no HTTP
            scripted = Engine(Path(tmp) / f"scripted-{concurrency}.sqlite",
                              backend=ScriptedBackend("answer", latency=latency))
            await _run(scripted, spec, concurrency, "warm-up")
            wall, cpu, _ = await _run(scripted, spec, calls, "scripted")
            rows.append(_row("scripted", calls, concurrency, latency, wall, cpu))
            scripted.close()

            if profile and "profile" not in extras:
                profiler = cProfile.Profile(time.process_time)
                await _run(engine, spec, calls, "profiled", profiler)
                extras["profile"] = {"concurrency": concurrency, **_profile_split(profiler, calls)}

            wall, cpu, hits = await _run(engine, spec, calls, "real")
            assert hits == calls, "the cache rerun made calls"
            rows.append(_row("cache hits", calls, concurrency, 0.0, wall, cpu))
            engine.close()
    return rows, extras


def _table(rows: list[dict]) -> str:
    headers = list(rows[0])
    cells = [[("-" if row[h] is None else str(row[h])) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="stub latency per call, seconds")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one litellm run: CPU per call inside litellm / the openai SDK / the rest")
    args = parser.parse_args()
    rows, extras = asyncio.run(bench(args.calls, args.latency, args.concurrency, args.profile))
    if args.json:
        print(json.dumps({"rows": rows, **extras}, indent=2))
        return
    print(f"stub latency {args.latency * 1000:g} ms; litellm import {extras['litellm_import_s']} s (not in the rows)")
    print(_table(rows))
    print("overhead_ms_per_call = (wall - ideal) x concurrency / calls; cpu_ms_per_call = process CPU / calls")
    by = {(r["path"], r["concurrency"]): r["cpu_ms_per_call"] for r in rows}
    extra_cpu = ", ".join(f"{by['litellm', c] - by['scripted', c]:.2f} ms (concurrency {c})" for c in args.concurrency)
    print(f"measured: litellm, the openai SDK and HTTP cost {extra_cpu} of CPU per call beyond the")
    print(" scripted path; on the one event loop, calls x that CPU is a floor on wall time")
    if "profile" in extras:
        prof = extras["profile"]
        split = ", ".join(f"{k} {v}" for k, v in prof["profiled_ms_per_call"].items())
        print(f"cProfile (concurrency {prof['concurrency']}), CPU ms per call by whose code ran: {split};")
        print(" litellm's costliest functions (own CPU ms per call):")
        for name, ms in prof["litellm_costliest_ms_per_call"]:
            print(f"  {ms:6.2f}  {name}")


if __name__ == "__main__":
    main()
