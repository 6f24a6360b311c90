"""The SQLite response cache: keys, persistence, bypass, and sharing across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from promptlsp.engine import ModelSpec
from promptlsp.engine.cache import CachedResponse, ResponseCache, cache_key

BASE = dict(
    model="openai/m", messages=[{"role": "user", "content": "q"}], temperature=0.0, top_p=None, seed=1,
    max_tokens=10, params={}, schema=None, mode=None,
)
WORKER = Path(__file__).with_name("cache_worker.py")


def test_key_is_canonical_and_sensitive_to_what_shapes_the_answer() -> None:
    key = cache_key(**BASE)
    assert key == cache_key(**{**BASE, "messages": [{"content": "q", "role": "user"}]})  # key order
    assert len(key) == 64
    for change in (
        {"model": "openai/other"}, {"temperature": 0.7}, {"seed": 2}, {"max_tokens": 11}, {"top_p": 0.5},
        {"params": {"stop": ["x"]}}, {"schema": {"type": "object"}}, {"mode": "instruct"}, {"sample": 1},
        {"messages": [{"role": "user", "content": "q2"}]},
    ):
        assert cache_key(**{**BASE, **change}) != key, change


def test_key_ignores_credential_params() -> None:
    key = cache_key(**BASE)
    assert cache_key(**{**BASE, "params": {"api_key": "sk-x", "extra_headers": {"Authorization": "t"}}}) == key


def test_entries_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    cache = ResponseCache(path)
    entry = CachedResponse("openai/m", "text ✓", 3, 4, None)
    cache.put("k", entry)
    cache.close()
    reopened = ResponseCache(path)
    assert reopened.get("k") == entry and reopened.get("missing") is None and len(reopened) == 1
    reopened.close()


async def test_rerun_with_same_seed_makes_zero_calls(scripted, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    spec = ModelSpec(model="m", seed=5)
    engine, backend = scripted(lambda r: "a " + r["messages"][0]["content"], cache_path=path)
    first = [await engine.session().complete(spec, f"q{i}") for i in range(3)]
    engine.close()
    assert backend.calls == 3 and not any(r.cached for r in first)

    engine2, backend2 = scripted(lambda r: "different", cache_path=path)  # a restart
    session = engine2.session()
    again = [await session.complete(spec, f"q{i}") for i in range(3)]
    assert backend2.calls == 0 and [r.text for r in again] == [r.text for r in first]
    assert all(r.cached and r.attempts == 0 for r in again)
    assert session.accounting.total.cache_hits == 3 and session.accounting.total.calls == 0
    changed_seed = await session.complete(ModelSpec(model="m", seed=6), "q0")
    assert not changed_seed.cached and backend2.calls == 1


async def test_use_cache_false_skips_reads_but_refreshes_entries(scripted, tmp_path: Path) -> None:
    answers = iter(["old", "new", "unused"])
    engine, backend = scripted(lambda r: next(answers), cache_path=tmp_path / "c.sqlite")
    spec = ModelSpec(model="m", seed=1)
    assert (await engine.session().complete(spec, "q")).text == "old"
    fresh = await engine.session(use_cache=False).complete(spec, "q")
    assert fresh.text == "new" and not fresh.cached and backend.calls == 2
    reread = await engine.session().complete(spec, "q")
    assert reread.text == "new" and reread.cached and backend.calls == 2


async def test_no_cache_path_means_no_cache(scripted) -> None:
    engine, backend = scripted("x")
    session = engine.session()
    await session.complete(ModelSpec(model="m"), "q")
    await session.complete(ModelSpec(model="m"), "q")
    assert engine.cache is None and backend.calls == 2


async def test_parse_failures_rerun_from_cache_and_fresh_runs_can_recover(scripted, tmp_path: Path) -> None:
    engine, backend = scripted(["not json", "still not json", '{"a": 1}'], cache_path=tmp_path / "c.sqlite")
    schema = {"type": "object", "required": ["a"]}
    spec = ModelSpec(model="m")
    assert (await engine.session().complete(spec, "q", schema=schema)).failure.kind == "parse"
    # the raw answers are cached (a rerun reproduces the failure without calls)...
    rerun = await engine.session().complete(spec, "q", schema=schema)
    assert rerun.failure.kind == "parse" and backend.calls == 2
    # ...and a fresh run can still get a good one.
    fresh = await engine.session(use_cache=False).complete(spec, "q", schema=schema)
    assert fresh.ok and fresh.data == {"a": 1}


def _worker(path: Path, first: int, last: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(path), str(first), str(last)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_cache_is_shared_by_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    assert _result(_worker(path, 0, 40)) == {"calls": 40, "hits": 0, "ok": 40}
    # Two processes at once, reading cached answers and writing new ones (some the same keys),
    # with no "database is locked" and no lost answer.
    one, two = _worker(path, 20, 80), _worker(path, 0, 60)
    first, second = _result(one), _result(two)
    assert first["ok"] == 60 and second["ok"] == 60
    assert first["hits"] >= 20 and second["hits"] >= 40
    assert first["calls"] + first["hits"] == 60 and second["calls"] + second["hits"] == 60
    # A third process after them finds every answer: zero new calls.
    assert _result(_worker(path, 0, 80)) == {"calls": 0, "hits": 80, "ok": 80}
