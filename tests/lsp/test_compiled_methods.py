"""The server's start reuses the methods attrs generated for lsprotocol at an earlier start
(``lsp/compiled_methods.py``): the same code objects ``compile()`` would build, none of attrs'
``compile()`` calls on a second start, and a damaged, foreign or unwritable cache file costs the
speed-up only — never the start."""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import attr
import attrs
import pytest

from promptlsp.lsp import compiled_methods
from promptlsp.lsp.compiled_methods import kept_compiled

SERVER_DIR = Path(compiled_methods.__file__).resolve().parents[2]

# Imports lsprotocol's types (inside kept_compiled when a cache path is given) and prints the
# counts and a fingerprint of every method attrs generated for them: bytecode, constants,
# names, variables and flags (``from __future__`` ones included).
_PROBE = r"""
import hashlib, json, sys
from pathlib import Path
cache = sys.argv[1]
if cache:
    from promptlsp.lsp.compiled_methods import kept_compiled
    with kept_compiled(Path(cache)) as counts:
        import lsprotocol.types as types
    said = {"hits": counts.hits, "misses": counts.misses, "written": counts.written}
else:
    import lsprotocol.types as types
    said = {}
digest, methods = hashlib.sha256(), 0
for name in sorted(vars(types)):
    cls = getattr(types, name)
    if not isinstance(cls, type) or not hasattr(cls, "__attrs_attrs__"):
        continue
    for attribute in sorted(vars(cls)):
        code = getattr(vars(cls)[attribute], "__code__", None)
        if code is None or not code.co_filename.startswith("<attrs generated"):
            continue
        methods += 1
        digest.update(repr((name, attribute, code.co_code, code.co_consts, code.co_names,
                            code.co_varnames, code.co_flags, code.co_filename)).encode())
print(json.dumps({**said, "methods": methods, "digest": digest.hexdigest(),
                  "position": repr(types.Position(line=1, character=2)),
                  "equal": types.Position(line=1, character=2) == types.Position(line=1, character=2)}))
"""


def _probe(cache: Path | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVER_DIR), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _PROBE, str(cache or "")], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    return json.loads(done.stdout)


def test_a_second_start_compiles_none_of_lsprotocols_methods_and_gets_the_same_code(tmp_path) -> None:
    cache = tmp_path / "methods.marshal"
    plain, first, second = _probe(None), _probe(cache), _probe(cache)
    assert first["misses"] > 500 and first["hits"] == 0 and first["written"]
    assert second == {**first, "hits": first["misses"], "misses": 0, "written": False}
    assert plain["methods"] == first["methods"] > 500 and second["equal"]
    assert plain["digest"] == first["digest"] == second["digest"]
    assert second["position"] == plain["position"] == "1:2"  # lsprotocol's own __repr__


def _define(name: str) -> type:
    """A new attrs class (attrs generates and compiles its methods)."""
    return attrs.define(type(name, (), {"__annotations__": {"x": int, "y": str}, "y": "default"}))


def test_an_attrs_class_defined_again_takes_its_methods_from_the_file(tmp_path) -> None:
    path = tmp_path / "m.marshal"
    with kept_compiled(path) as first:
        one = _define("Probe")
    assert first.misses >= 1 and first.hits == 0 and first.written and first.loaded == 0
    with kept_compiled(path) as second:
        again = _define("Probe")
    assert (second.loaded, second.hits, second.misses, second.written) == (first.misses, first.misses, 0, False)
    assert one(1) == one(1, "default") and again(1) == again(1) and repr(again(2, "z")) == "Probe(x=2, y='z')"


def test_the_file_keeps_only_what_the_last_start_used(tmp_path) -> None:
    path = tmp_path / "m.marshal"
    with kept_compiled(path):
        _define("Old")
    with kept_compiled(path) as counts:
        _define("New")
    assert counts.written and counts.hits == 0
    with kept_compiled(path) as later:
        _define("New")
    assert later.loaded == counts.misses and later.misses == 0


def _header() -> bytes:
    return compiled_methods._HEADER


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="empty"),
    pytest.param(os.urandom(4096), id="random-bytes"),
    pytest.param(b"promptlsp compiled methods 1\n" + b"\x00\x00\x00\x00cpython-0\n" + marshal.dumps({}), id="other-interpreter"),
    pytest.param(None, id="truncated"),
    pytest.param(b"list", id="not-a-dict"),
    pytest.param(b"strings", id="entries-that-are-not-code"),
])
def test_a_damaged_or_foreign_file_is_ignored_and_replaced(tmp_path, content) -> None:
    path = tmp_path / "m.marshal"
    with kept_compiled(path):
        _define("Damaged")
    good = path.read_bytes()
    if content is None:
        content = good[: len(good) // 2]
    elif content == b"list":
        content = _header() + marshal.dumps([1, 2, 3])
    elif content == b"strings":
        entries = marshal.loads(good[len(_header()):])
        content = _header() + marshal.dumps({key: "print('not code')" for key in entries})
    path.write_bytes(content)
    with kept_compiled(path) as counts:
        cls = _define("Damaged")
    assert counts.hits == 0 and counts.misses >= 1 and counts.written
    assert cls(3).x == 3
    with kept_compiled(path) as after:
        _define("Damaged")
    assert after.misses == 0 and after.hits == counts.misses


def test_a_folder_that_cannot_be_written_costs_only_the_speed_up(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with kept_compiled(blocker / "m.marshal") as counts:
        cls = _define("Unwritable")
    assert counts.misses >= 1 and not counts.written and cls(4).x == 4


def test_the_hook_is_gone_after_the_block_even_when_it_fails(tmp_path) -> None:
    with pytest.raises(RuntimeError):
        with kept_compiled(tmp_path / "m.marshal"):
            assert "compile" in vars(attr._make)
            raise RuntimeError("an import failed")
    assert "compile" not in vars(attr._make)


def test_a_nested_block_or_another_hook_is_left_alone(tmp_path) -> None:
    with kept_compiled(tmp_path / "outer.marshal") as outer:
        with kept_compiled(tmp_path / "inner.marshal") as inner:
            _define("Nested")
        assert "compile" in vars(attr._make)
    assert inner.misses == 0 and outer.misses >= 1 and not (tmp_path / "inner.marshal").exists()


def test_a_user_without_a_home_folder_still_gets_a_server(monkeypatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("PROMPTLSP_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with kept_compiled() as counts:
        cls = _define("Homeless")
    assert cls(5).x == 5 and counts.loaded == counts.hits == 0 and not counts.written
    assert "compile" not in vars(attr._make)


def test_compile_calls_that_are_not_attrs_methods_behave_as_compile(tmp_path) -> None:
    with kept_compiled(tmp_path / "m.marshal") as counts:
        hook = vars(attr._make)["compile"]
        code = hook("x = 1", "<not attrs>", "exec")
        expression = hook("1 + 2", "<not attrs>", "eval", 0, True)
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["x"] == 1 and eval(expression) == 3 and counts.hits == counts.misses == 0


def test_the_file_lives_in_the_users_cache_folder_per_interpreter(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PROMPTLSP_CACHE_DIR", str(tmp_path))
    path = compiled_methods.default_path()
    assert path.parent == tmp_path / "compiled-methods"
    assert sys.implementation.cache_tag in path.name
    assert importlib.util.MAGIC_NUMBER in compiled_methods._HEADER


def test_promptlsp_serve_keeps_the_methods_between_starts(tmp_path) -> None:
    from lsp_support import RawServer

    env = {**os.environ, "PROMPTLSP_CACHE_DIR": str(tmp_path)}
    for start in range(2):
        server = RawServer(env)
        try:
            server.initialize()  # asserts the answer has a result
        finally:
            server.proc.kill()
            server.proc.wait(timeout=30)
        if start == 0:
            written = next((tmp_path / "compiled-methods").iterdir())
            first = written.stat().st_mtime_ns, len(compiled_methods._load(written))
    assert first[1] > 500  # lsprotocol's, pygls' and promptlsp's own attrs classes
    assert written.stat().st_mtime_ns == first[0]  # the second start found them all: nothing rewritten
