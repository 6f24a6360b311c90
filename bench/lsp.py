"""Language server latency: promptlsp vs taplo's LSP (what Even Better TOML runs).

    python bench/lsp.py [--sizes 10,200,5000] [--edits 20] [--hovers 40] [--requests 40] [--starts 5] [--pause 0.3]
                        [--hover-spacing 0.025] [--timeout 60] [--no-taplo] [--smoke]

Both servers run as real processes over stdio, driven by one small LSP client in this script
(Content-Length framing, requests answered in order; what a server asks of the client —
``workspace/configuration``, progress tokens, capability registration — gets an empty answer).

* **initialize**: process start → the ``initialize`` response (``--starts`` times; promptlsp's
  includes the Python interpreter's start-up, taplo's that of Node and its WebAssembly module).
  promptlsp twice: as ``promptlsp serve`` (it restarts itself once, before reading anything, for
  the C allocator) and as the VS Code extension starts it (``PYTHONMALLOC=malloc`` already set).
* **didChange → publishDiagnostics** on the files of ``bench/validate.py`` with 10, 200 and
  5,000 inline examples (the same generated text for both servers; a server process of its own
  per size): the file is opened, then ``--edits`` single-character incremental changes, as an
  editor sends them, alternately type an ``x`` before the ``name`` key (an unknown key: a schema
  error for both servers) and delete it; a change is timed from sending it to the first
  ``publishDiagnostics`` for that document whose content matches it (error present or not;
  promptlsp also stamps the version). One change at a time, each ``--pause`` s after the
  previous one was answered: the latency a user sees after pausing (promptlsp debounces only
  edits that follow each other within 150 ms).
* **hover** on a key (the schema's description), idle, ``--hovers`` requests per size.
* **completion, semantic tokens, outline**, idle, ``--requests`` requests each per size, after
  the hovers: ``textDocument/completion`` on the empty line after ``split`` in the middle example
  written with an ``[examples.vars]`` table (promptlsp must offer ``assert``) and inside
  ``{{ review }}`` of the template (promptlsp must offer ``review`` and ``product``; not asked of
  taplo, to which the template is a TOML string), ``textDocument/semanticTokens/full`` (promptlsp:
  the template's tokens) and ``textDocument/documentSymbol`` (promptlsp: an outline with the
  examples). A request is asked of a server only when it advertises the capability. Then the
  outline again, after ``note = "`` is typed on that empty line (an unterminated string: the
  TOML reader refuses the file, the outline shows what can still be read).
* **inlay hints and code lenses** (promptlsp), idle, ``--requests`` each per size, with every
  example's result recorded in the run store beforehand (as ``promptlsp eval`` leaves it):
  ``textDocument/inlayHint`` on 60 lines in the middle of the file (what an editor shows; each
  hint must be a current ✓) and ``textDocument/codeLens`` (a lens per example, its command resolved
  when shown).
* **hover during the first optimization** (promptlsp): a fresh server is asked to optimize the
  sentiment example against a loopback scripted model reached through litellm (200 ms per call,
  ``promptlsp.testing.openai_stub``; 50 iterations, cancelled after the hovers). Hovers start at
  the optimize request, every ``--hover-spacing`` s, and are reported in two rows: until the
  model's first call (the run is planned and litellm is imported meanwhile) and ``--hovers``
  more after it. The optimization must not make the editor wait.

A server that does not answer within ``--timeout`` s is a row that says so (with what was
measured before), and the bench goes on with the next measurement.

taplo's server comes from the npm package ``@taplo/lsp`` 0.8.0 (the PyPI and npm ``taplo``
command-line builds have no language server), installed on first use into
``bench/taplo-lsp/node_modules`` with ``npm ci`` (lock file with hashes), wrapped for stdio by
``bench/taplo-lsp/stdio.mjs``; the JSON Schema is associated with ``*.prompt.toml`` by a
``.taplo.toml`` in the workspace — the same ``prompts-spec/prompt.schema.json`` promptlsp uses.
taplo checks syntax and the schema; promptlsp also templates, examples and criteria.

Prints a table: p50, p95, p99 and max (nearest rank, ``bench/validate.py``'s ``percentile``)
in ms per server and measurement, beside the row's goal (issue 14: initialize p95 ≤ 600 ms;
didChange→diagnostics p95 ≤ 50/100/300 ms at 10/200/5,000 examples; idle hover p95 ≤ 10 ms;
hover during an optimization p99 ≤ 50 ms; and this project's goals for issue 16's editing
features: completion p95 ≤ 100 ms, semantic tokens p95 ≤ 100 ms, outline p95 ≤ 300 ms, inlay hints
p95 ≤ 50 ms, code lenses p95 ≤ 300 ms, at every size, the 5,000-example file being the one that binds) and whether the measurement met it; then
``taplo: not measured (<why>)`` when taplo could not be run (no Node, or @taplo/lsp neither
installed nor installable) or ``--no-taplo`` was given. ``--smoke``: size 10, 4 edits, 5 hovers,
5 requests of each kind, 1 start, and 3 hovers after the optimization's first model call, at 50 ms per call (what the
test runs).

Every server process is stopped (``shutdown``/``exit``, else killed) whatever happens, a
timeout or a failed check included; when a server's output ends or cannot be parsed, the
waiting requests fail at once with its stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "cli"))

import validate  # noqa: E402  (the generated files of bench/validate.py)

SCHEMA = REPO / "prompts-spec" / "prompt.schema.json"
TAPLO_DIR = REPO / "bench" / "taplo-lsp"
SENTIMENT = REPO / "prompts-spec" / "examples" / "sentiment.prompt.toml"
ERROR_CHAR = "x"  # typed before the ``name`` key: both servers report the unknown key "xname"
TIMEOUT_S = 60.0  # one answer's default limit; a measurement that waits longer is a "timed out" row


# -- a minimal LSP client over stdio ------------------------------------------------------------

class Client:
    """One server process; requests are awaited, notifications go to ``expect`` watchers.

    ``async with Client(...) as client`` starts the process and always stops it (``shutdown`` and
    ``exit``, killed if that fails), whatever happens inside. When the server's output ends or
    cannot be read, every pending request and watcher fails at once with the reason."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.command, self.cwd, self.env = command, cwd, env
        self.proc: asyncio.subprocess.Process | None = None
        self._next = 0
        self._pending: dict[int, asyncio.Future] = {}
        self._watchers: list[tuple[Callable[[str, Any], bool], asyncio.Future]] = []
        self._reader: asyncio.Task | None = None
        self._stderr_reader: asyncio.Task | None = None
        self._closed: BaseException | None = None  # why the server's output is no longer read
        self.stderr = b""

    async def __aenter__(self) -> "Client":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command, cwd=self.cwd, env=self.env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=1 << 26)
        self._reader = asyncio.create_task(self._read())
        self._stderr_reader = asyncio.create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while chunk := await self.proc.stderr.read(65536):
            self.stderr = (self.stderr + chunk)[-20000:]

    def _send(self, message: dict) -> None:
        assert self.proc and self.proc.stdin
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def _stderr_tail(self) -> str:
        return self.stderr[-2000:].decode(errors="replace")

    async def _read(self) -> None:
        try:
            await self._read_messages()
            why: BaseException = ConnectionError("server exited: " + self._stderr_tail())
        except asyncio.CancelledError:
            self._fail(ConnectionError("the client stopped reading"))
            raise
        except Exception as exc:  # a malformed frame or message
            why = ConnectionError(f"unreadable server output ({type(exc).__name__}: {exc}); "
                                  f"stderr: {self._stderr_tail()}")
        self._fail(why)

    def _fail(self, why: BaseException) -> None:
        """No more messages will come: fail every pending request and watcher now."""
        self._closed = why
        pending, self._pending = self._pending, {}
        watchers, self._watchers = self._watchers, []
        for future in [*pending.values(), *(f for _, f in watchers)]:
            if not future.done():
                future.set_exception(why)
                future.exception()  # its awaiter still gets it; one nobody awaits any more is not logged

    async def _read_messages(self) -> None:
        """Read and dispatch messages until the server's output ends."""
        assert self.proc and self.proc.stdout
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = await out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise ValueError("a frame without Content-Length")
            message = json.loads(await out.readexactly(length))
            if "id" in message and "method" in message:  # a request from the server
                self._send({"id": message["id"], "result": self._answer(message)})
            elif "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(RuntimeError(str(message["error"])))
                    else:
                        future.set_result(message.get("result"))
            else:
                self._notify_watchers(message["method"], message.get("params"))

    def _notify_watchers(self, method: str, params: Any) -> None:
        kept = []
        for predicate, future in self._watchers:
            if future.done():  # timed out or cancelled
                continue
            try:
                accepted = predicate(method, params)
            except Exception as exc:  # a check that cannot read this notification fails its waiter
                future.set_exception(exc)
                continue
            if accepted:
                future.set_result(params)
            else:
                kept.append((predicate, future))
        self._watchers = kept

    @staticmethod
    def _answer(message: dict) -> Any:
        if message["method"] == "workspace/configuration":
            return [None for _ in message.get("params", {}).get("items", [])]
        return None

    async def request(self, method: str, params: Any, timeout: float = TIMEOUT_S) -> Any:
        if self._closed is not None:
            raise self._closed
        self._next += 1
        request_id = self._next
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._send({"id": request_id, "method": method, "params": params})
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def expect(self, predicate: Callable[[str, Any], bool]) -> asyncio.Future:
        """A future that resolves at the first notification ``predicate`` accepts (and fails at
        once if the server's output ends first)."""
        future = asyncio.get_running_loop().create_future()
        if self._closed is not None:
            future.set_exception(self._closed)
        else:
            self._watchers.append((predicate, future))
        return future

    async def initialize(self, root: Path, options: Any = None) -> dict[str, Any]:
        """Initialize; returns the server's capabilities."""
        result = await self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": "bench"}],
            "initializationOptions": options,
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "window": {"workDoneProgress": True},
                "workspace": {"configuration": True, "workspaceFolders": True},
                "textDocument": {
                    "synchronization": {"dynamicRegistration": False},
                    "publishDiagnostics": {"versionSupport": True},
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                    "completion": {"completionItem": {"snippetSupport": False,
                                                      "documentationFormat": ["markdown", "plaintext"]}},
                    "semanticTokens": {"requests": {"full": True}, "tokenTypes": [], "tokenModifiers": [],
                                       "formats": ["relative"]},
                    "documentSymbol": {"hierarchicalDocumentSymbolSupport": True},
                },
            },
        })
        self.notify("initialized", {})
        return (result or {}).get("capabilities") or {}

    async def stop(self) -> None:
        """``shutdown`` and ``exit`` (10 s each at most), then kill the process if it is still
        there; ends the reader tasks. Safe to call more than once."""
        if self.proc is None:
            return
        try:
            if self.proc.returncode is None and self._closed is None:
                try:
                    await self.request("shutdown", None, timeout=10)
                    self.notify("exit", None)
                    await asyncio.wait_for(self.proc.wait(), 10)
                except Exception:  # no answer, a dead reader, a closed pipe: kill it below
                    pass
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            for task in (self._reader, self._stderr_reader):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(*(t for t in (self._reader, self._stderr_reader) if t is not None),
                                 return_exceptions=True)


# -- the servers --------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    options: Any = None


def promptlsp_server(options: Any = None) -> Server:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "BENCH_KEY": "sk-bench-not-a-secret"}
    return Server("promptlsp", [sys.executable, "-m", "promptlsp", "serve"], env, options)


def taplo_server() -> tuple[Server | None, str]:
    """taplo's LSP, installing @taplo/lsp from the lock file on first use; or None and why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    installed = (TAPLO_DIR / "node_modules" / "@taplo" / "lsp").exists()
    if node is None:
        return None, "no node on PATH"
    if not installed:
        if npm is None:
            return None, "@taplo/lsp is not installed and there is no npm on PATH to install it"
        print("installing @taplo/lsp into bench/taplo-lsp/node_modules (npm ci) …", file=sys.stderr)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=TAPLO_DIR,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"npm ci of @taplo/lsp failed: {' '.join(done.stderr.strip()[-300:].split())}"
    return Server("taplo", [node, str(TAPLO_DIR / "stdio.mjs")], dict(os.environ)), ""


# -- measurements -------------------------------------------------------------------------------

@dataclass
class Limits:
    timeout_s: float = TIMEOUT_S  # --timeout


LIMITS = Limits()


class TimedOut(Exception):
    """A measurement the server did not finish in time: its row says so (and what was done)."""

    def __init__(self, what: str, done: list[float], total: int) -> None:
        super().__init__(f"timed out: {what} ({len(done)} of {total} done)")
        self.done = done


async def _within(awaitable: Any, what: str, done: list[float], total: int) -> Any:
    timeout = LIMITS.timeout_s
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise TimedOut(f"{what} within {timeout:g} s", done, total) from None


async def time_initialize(server: Server, root: Path, starts: int) -> list[float]:
    times: list[float] = []
    for _ in range(starts):
        start = time.perf_counter()
        async with Client(server.command, root, server.env) as client:
            await _within(client.initialize(root, server.options), "no initialize response", times, starts)
            times.append((time.perf_counter() - start) * 1000)
    return times


def _has_error(params: Any) -> bool:
    return any(d.get("severity", 1) == 1 for d in params.get("diagnostics", []))


async def open_and_wait(client: Client, uri: str, text: str, errors: bool) -> None:
    ready = client.expect(lambda m, p: m == "textDocument/publishDiagnostics" and p["uri"] == uri
                          and _has_error(p) == errors)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "toml", "version": 1, "text": text}})
    await _within(ready, "no diagnostics for the opened file", [], 1)


def _char_edit(line: int, insert: bool) -> dict[str, Any]:
    """Type an ``x`` at the start of ``line``, or delete it: one character, as an editor sends it."""
    position = {"line": line, "character": 0}
    if insert:
        return {"range": {"start": position, "end": position}, "text": ERROR_CHAR}
    return {"range": {"start": position, "end": {"line": line, "character": 1}}, "text": ""}


async def time_changes(client: Client, uri: str, text: str, edits: int, pause: float) -> list[float]:
    """didChange → the matching publishDiagnostics. Each change is one character (an ``x``
    typed before the ``name`` key, making it an unknown key; then deleted again), sent
    ``pause`` s after the previous one was answered: the latency a user sees after pausing."""
    line = text.split("\n").index(next(l for l in text.split("\n") if l.startswith("name =")))
    await open_and_wait(client, uri, text, errors=False)
    times: list[float] = []
    for version in range(2, edits + 2):
        errors = version % 2 == 0

        def matches(method: str, params: Any, errors: bool = errors, version: int = version) -> bool:
            if method != "textDocument/publishDiagnostics" or params["uri"] != uri:
                return False
            if params.get("version") is not None and params["version"] != version:
                return False
            return _has_error(params) == errors

        await asyncio.sleep(pause)
        published = client.expect(matches)
        start = time.perf_counter()
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                 "contentChanges": [_char_edit(line, insert=errors)]})
        await _within(published, "no matching publishDiagnostics", times, edits)
        times.append((time.perf_counter() - start) * 1000)
    return times  # the document stays open (its hovers are timed next)


def key_position(text: str, key: str) -> dict[str, int]:
    for line, content in enumerate(text.split("\n")):
        if content.startswith(f"{key} =") or content.startswith(f"{key}="):
            return {"line": line, "character": 1}
    raise ValueError(f"no top-level line for key {key!r}")


async def hover_once(client: Client, uri: str, position: dict[str, int], expect_text: str | None,
                     times: list[float], total: int) -> None:
    start = time.perf_counter()
    result = await _within(client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": position}),
                           "no hover response", times, total)
    times.append((time.perf_counter() - start) * 1000)
    if expect_text is not None:
        assert result and expect_text in json.dumps(result), f"unexpected hover: {result}"


async def time_hovers(client: Client, uri: str, position: dict[str, int], count: int,
                      expect_text: str | None = None, spacing: float = 0.05) -> list[float]:
    times: list[float] = []
    for _ in range(count):
        await hover_once(client, uri, position, expect_text, times, count)
        await asyncio.sleep(spacing)  # a user's hovers are spaced out; so are these
    return times


def example_key_position(text: str) -> dict[str, int]:
    """The empty line after ``split`` in the middle example written with tables (its vars in an
    ``[examples.vars]`` table below): a key of that example may be typed there."""
    lines = text.split("\n")
    headers = [i for i, content in enumerate(lines) if content == "[[examples]]"]
    middle = len(headers) // 2
    for header in headers[middle:] + headers[:middle]:
        line = header + 1
        while line < len(lines) and lines[line] != "":
            line += 1
        if line + 1 < len(lines) and lines[line + 1] == "[examples.vars]":
            return {"line": line, "character": 0}
    raise ValueError("no example written with an [examples.vars] table")


def template_position(text: str) -> dict[str, int]:
    """Inside ``{{ review }}`` of the template, before the name (what is typed after ``{{ ``)."""
    return {"line": text.split("\n").index("{{ review }}"), "character": len("{{ ")}


def _labels(result: Any) -> set[str]:
    items = result.get("items", []) if isinstance(result, dict) else (result or [])
    return {item["label"] for item in items}


@dataclass(frozen=True)
class Request:
    """One kind of editor request timed idle: ``check`` (promptlsp's answers only) says the
    answer is the one asked for; ``capability`` is the server capability it needs;
    ``promptlsp_only``: not asked of taplo (to which a template is just a TOML string)."""

    measure: str
    method: str
    capability: str
    goal: "Goal"
    position: Callable[[str], dict[str, int]] | None = None
    check: Callable[[Any], bool] | None = None
    promptlsp_only: bool = False
    params: Callable[[str], dict[str, Any]] | None = None  # more params, from the text


async def time_requests(client: Client, uri: str, text: str, request: Request, count: int,
                        checked: bool, spacing: float = 0.05) -> list[float]:
    params: dict[str, Any] = {"textDocument": {"uri": uri}}
    if request.position is not None:
        params["position"] = request.position(text)
    if request.params is not None:
        params.update(request.params(text))
    times: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        result = await _within(client.request(request.method, params), f"no {request.method} response", times, count)
        times.append((time.perf_counter() - start) * 1000)
        if checked and request.check is not None:
            assert request.check(result), f"unexpected {request.method} answer: {json.dumps(result)[:300]}"
        await asyncio.sleep(spacing)  # spaced out, as a user's requests are
    return times


HINT_LINES = 60  # the inlay-hint range: about a screen


def visible_range(text: str) -> dict[str, Any]:
    """``HINT_LINES`` lines from the middle of the file, as an editor asks for what it shows."""
    first = text.count("\n") // 2
    return {"range": {"start": {"line": first, "character": 0}, "end": {"line": first + HINT_LINES, "character": 0}}}


def record_results(root: Path, path: Path) -> None:
    """An evaluation of every example of ``path`` in ``root``'s run store, as ``promptlsp eval``
    records it (each result current for the file as it is): what the inlay hints show."""
    from promptlsp.document import analyze
    from promptlsp.document.model import PromptText
    from promptlsp.evaluate.inputs import inputs_sha
    from promptlsp.optimize.events import ExampleScored, RunFinished, RunStarted
    from promptlsp.runs import RunStore
    from promptlsp.state import runs_path

    prompt_file = analyze(path.read_text(encoding="utf-8"), path, root).prompt
    assert prompt_file is not None, f"{path} has errors"
    prompt = PromptText(prompt_file.template, prompt_file.system)
    run_id = f"evaluate-bench-{path.stem}"
    with RunStore(runs_path(root)) as store:
        store.record(run_id, RunStarted(run_id, "evaluate", str(path), prompt, {}, {}))
        for example in prompt_file.examples:
            store.record(run_id, ExampleScored(prompt.id, example.id, example.split, 1.0, True, example.expected[0],
                                               ({"name": "equals", "reason": "equal"},), None,
                                               inputs_sha(prompt_file, example)))
        store.record(run_id, RunFinished("finished", prompt.id, prompt, 1.0, 1.0, "all"))


HALF_TYPED = 'note = "'  # typed on the empty line of ``example_key_position``: an unterminated string


async def time_half_typed_outline(client: Client, uri: str, text: str, version: int, count: int,
                                  checked: bool) -> list[float]:
    """documentSymbol after a half-typed line (``HALF_TYPED``) in the middle example: the TOML
    reader refuses the file, the outline is made of what can still be read. The change is
    waited for (its diagnostics), then ``count`` requests are timed."""
    position = example_key_position(text)
    published = client.expect(lambda m, p: m == "textDocument/publishDiagnostics" and p["uri"] == uri
                              and p.get("version") in (None, version) and _has_error(p))
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
        {"range": {"start": position, "end": position}, "text": HALF_TYPED}]})
    await _within(published, "no diagnostics for the half-typed change", [], count)
    request = Request("", "textDocument/documentSymbol", "", OUTLINE_GOAL, None,
                      lambda r: any(s["name"] == "examples" for s in r or []))
    return await time_requests(client, uri, text, request, count, checked)


async def hovers_during_optimization(folder: Path, count: int, latency: float,
                                     spacing: float) -> tuple[list[float], list[float], int, float]:
    """promptlsp hovers from the moment it is asked for its first optimization (a fresh server:
    litellm is imported during the run), against a loopback scripted model reached through
    litellm (``latency`` s per call): hovers every ``spacing`` s until the model's first call
    (while litellm loads), then ``count`` more. Returns both sets of times, the model calls made
    meanwhile (the run must still be running at the end) and the seconds until the first call."""
    import tomlkit
    from promptlsp.testing.openai_stub import StubServer
    from stub_model import answer  # tests/cli/stub_model.py: a scripted model for this example

    doc = tomlkit.parse(SENTIMENT.read_text(encoding="utf-8"))
    doc.pop("models", None)
    doc["optimize"]["iterations"] = 50  # long enough to outlast the hovers; cancelled after them
    doc["optimize"]["minibatch"] = 8  # eight first calls at once (litellm is loaded for all of them)
    text = tomlkit.dumps(doc)
    path = folder / "running.prompt.toml"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    position = key_position(text, "task")
    loading: list[float] = []
    running: list[float] = []
    with StubServer(latency=latency, answer=answer) as stub:
        options = {"models": {role: "openai/stub" for role in ("task", "judge", "optimizer")},
                   "apiBase": stub.url, "apiKeyEnv": "BENCH_KEY"}
        server = promptlsp_server(options)
        async with Client(server.command, folder, server.env) as client:
            await client.initialize(folder, server.options)
            await open_and_wait(client, uri, text, errors=False)
            await time_hovers(client, uri, position, 3, "task")  # the hover path is warm, as when idle
            started = time.perf_counter()
            run = asyncio.ensure_future(client.request("promptlsp/optimize", {"uri": uri, "budgetCalls": 100000},
                                                       timeout=600))
            run.add_done_callback(lambda task: task.cancelled() or task.exception())  # its outcome is read below
            try:
                deadline = time.monotonic() + LIMITS.timeout_s
                while stub.stats.requests == 0:  # litellm loading (and the run being planned)
                    if run.done():
                        run.result()  # raises what the server said
                        raise RuntimeError("the optimization ended before its first model call")
                    if time.monotonic() > deadline:
                        raise TimedOut(f"no model call within {LIMITS.timeout_s:g} s of the optimize request", loading, 0)
                    await hover_once(client, uri, position, "task", loading, 0)
                    await asyncio.sleep(spacing)
                first_call = time.perf_counter() - started
                before = stub.stats.requests
                running = await time_hovers(client, uri, position, count, "task", spacing)
                while stub.stats.requests == before and not run.done():  # until the run has called the model
                    if time.monotonic() > deadline:  # meanwhile (a round in flight can outlast a few hovers)
                        break
                    await hover_once(client, uri, position, "task", running, 0)
                    await asyncio.sleep(spacing)
                calls = stub.stats.requests - before
                still_running = not run.done()
                await client.request("workspace/executeCommand",
                                     {"command": "promptlsp.cancel", "arguments": [{"uri": uri}]})
                try:
                    await asyncio.wait_for(run, 30)
                except Exception:
                    pass
            finally:
                run.cancel()
    if not still_running:
        raise RuntimeError("the optimization finished before the hovers did; hovers were not measured during a run")
    return loading, running, calls, first_call


@dataclass(frozen=True)
class Goal:
    """The issue's target for a row: ``stat`` (``p95``/``p99``) at most ``ms``."""

    stat: str
    ms: float

    def __str__(self) -> str:
        return f"{self.stat} ≤ {self.ms:g}"


@dataclass
class Row:
    measure: str
    server: str
    times: list[float]
    note: str = ""
    goal: Goal | None = None
    timed_out: str | None = None  # why the measurement stopped early


def stat(times: list[float], name: str) -> float:
    return {"p50": statistics.median, "max": max}.get(name, lambda t: validate.percentile(t, int(name[1:]) / 100))(times)


def write_cases(folder: Path, sizes: list[int]) -> list[tuple[int, Path]]:
    cases = []
    for size in sizes:
        path = folder / f"inline-{size}.prompt.toml"
        path.write_text(validate.inline_file(validate.make_rows(size, random.Random(validate.SEED + size))), encoding="utf-8")
        cases.append((size, path))
    (folder / ".taplo.toml").write_text(
        f'[[rule]]\ninclude = ["**/*.prompt.toml"]\n\n[rule.schema]\npath = "{SCHEMA.as_uri()}"\n', encoding="utf-8")
    return cases


async def measured(rows: list[Row], measure: str, server: str, goal: Goal | None, work: Callable[[], Any],
                   note: str = "") -> None:
    """Run ``work`` (returns the times) into a row; a timeout is a row that says so."""
    try:
        rows.append(Row(measure, server, await work(), note, goal))
    except TimedOut as exc:
        rows.append(Row(measure, server, exc.done, note, goal, timed_out=str(exc)))


async def bench(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """The rows, and notes on what was not measured."""
    rows: list[Row] = []
    notes: list[str] = []
    servers = [promptlsp_server()]
    taplo, why = (None, "--no-taplo") if args.no_taplo else taplo_server()
    if taplo is None:
        notes.append(f"taplo: not measured ({why})")
    else:
        servers.append(taplo)
    with tempfile.TemporaryDirectory(prefix="promptlsp-bench-lsp-") as tmp:
        folder = Path(tmp)
        cases = write_cases(folder, args.sizes)
        for _size, path in cases:
            record_results(folder, path)
        for server in servers:
            await measured(rows, "initialize", server.name, INITIALIZE_GOAL,
                           lambda: time_initialize(server, folder, args.starts))
            if server.name == "promptlsp":  # as the VS Code extension starts it: no allocator restart
                as_vscode = Server(server.name, server.command, {**server.env, "PYTHONMALLOC": "malloc"}, server.options)
                await measured(rows, "initialize, started as VS Code does (PYTHONMALLOC=malloc set)", server.name,
                               INITIALIZE_GOAL, lambda: time_initialize(as_vscode, folder, args.starts))
        for server in servers:
            for size, path in cases:  # a server of its own per size: a timed-out one is stopped
                text = path.read_text(encoding="utf-8")
                label = f"{size} examples ({len(text.encode()) / 1024:.0f} KB)"

                async def changes_and_hovers(text: str = text, path: Path = path, label: str = label,
                                             size: int = size) -> None:
                    async with Client(server.command, folder, server.env) as client:
                        capabilities = await client.initialize(folder, server.options)
                        await measured(rows, f"didChange→diagnostics, {label}", server.name, CHANGE_GOALS.get(size),
                                       lambda: time_changes(client, path.as_uri(), text, args.edits, args.pause))
                        if rows[-1].timed_out:
                            return  # the server is still busy: its hovers would measure that
                        await measured(rows, f"hover on a key, idle, {label}", server.name, IDLE_HOVER_GOAL,
                                       lambda: time_hovers(client, path.as_uri(), key_position(text, "task"),
                                                           args.hovers))
                        ours = server.name == "promptlsp"
                        for request in REQUESTS:
                            if rows[-1].timed_out:
                                return
                            if not capabilities.get(request.capability) or (request.promptlsp_only and not ours):
                                continue  # not offered
                            await measured(rows, f"{request.measure}, idle, {label}", server.name, request.goal,
                                           lambda request=request: time_requests(
                                               client, path.as_uri(), text, request, args.requests, ours))
                        if rows[-1].timed_out or not capabilities.get("documentSymbolProvider"):
                            return
                        await measured(rows, f"documentSymbol (outline), half-typed example, {label}", server.name,
                                       OUTLINE_GOAL, lambda: time_half_typed_outline(
                                           client, path.as_uri(), text, args.edits + 2, args.requests, ours))

                try:
                    await changes_and_hovers()
                except TimedOut as exc:  # initialize or open
                    rows.append(Row(f"didChange→diagnostics, {label}", server.name, exc.done,
                                    goal=CHANGE_GOALS.get(size), timed_out=str(exc)))
        try:
            loading, running, calls, first_call = await hovers_during_optimization(
                folder, args.optimize_hovers, args.stub_latency, args.hover_spacing)
        except TimedOut as exc:
            rows.append(Row("hover, first optimization, until its first model call", "promptlsp", exc.done,
                            goal=RUN_HOVER_GOAL, timed_out=str(exc)))
        else:
            rows.append(Row("hover, first optimization, until its first model call", "promptlsp", loading,
                            f"from the optimize request; first model call after {first_call:.1f} s (litellm loads)",
                            RUN_HOVER_GOAL))
            rows.append(Row("hover, first optimization, after its first model call", "promptlsp", running,
                            f"{calls} model calls ({args.stub_latency * 1000:g} ms each) ran meanwhile",
                            RUN_HOVER_GOAL))
    return rows, notes


INITIALIZE_GOAL = Goal("p95", 600)
CHANGE_GOALS = {10: Goal("p95", 50), 200: Goal("p95", 100), 5000: Goal("p95", 300)}
IDLE_HOVER_GOAL = Goal("p95", 10)
RUN_HOVER_GOAL = Goal("p99", 50)
# this project's goals for the editing features of issue 16 (the 5,000-example file is the bound)
COMPLETION_GOAL = Goal("p95", 100)
SEMANTIC_TOKENS_GOAL = Goal("p95", 100)
OUTLINE_GOAL = Goal("p95", 300)
INLAY_HINT_GOAL = Goal("p95", 50)  # a screen's worth, whatever the file's size
CODE_LENS_GOAL = Goal("p95", 300)  # one lens per example: like the outline
REQUESTS = (
    Request("completion of a key in an example table", "textDocument/completion", "completionProvider",
            COMPLETION_GOAL, example_key_position, lambda r: "assert" in _labels(r)),
    Request("completion in {{ }} of the template", "textDocument/completion", "completionProvider",
            COMPLETION_GOAL, template_position, lambda r: {"review", "product"} <= _labels(r), True),
    Request("semanticTokens/full", "textDocument/semanticTokens/full", "semanticTokensProvider",
            SEMANTIC_TOKENS_GOAL, None, lambda r: bool(r and r["data"]) and len(r["data"]) % 5 == 0),
    Request("documentSymbol (outline)", "textDocument/documentSymbol", "documentSymbolProvider",
            OUTLINE_GOAL, None, lambda r: any(s["name"] == "examples" for s in r or [])),
    Request(f"inlayHint ({HINT_LINES} lines, every example evaluated)", "textDocument/inlayHint",
            "inlayHintProvider", INLAY_HINT_GOAL, None,
            lambda r: bool(r) and all(h["label"].startswith("✓ 1.00 · ") for h in r), params=visible_range),
    Request("codeLens (Evaluate, Optimize, Run example on each)", "textDocument/codeLens", "codeLensProvider",
            CODE_LENS_GOAL, None, lambda r: len(r or []) > 2 and r[0]["command"]["title"] == "Evaluate"
            and len(r[-1]["data"]) == 2),  # an example's lens: resolved when shown
)
STATS = ("p50", "p95", "p99", "max")


def table(rows: list[Row]) -> list[str]:
    header = ["measure", "server", "n", *(f"{s} ms" for s in STATS), "goal", "met", "note"]
    order = list(dict.fromkeys(r.measure for r in rows))  # servers side by side per measure
    rows = sorted(rows, key=lambda r: order.index(r.measure))
    body = []
    for r in rows:
        numbers = [f"{stat(r.times, s):.1f}" if r.times else "-" for s in STATS]
        if r.timed_out:
            met = "no" if r.goal else "-"
        elif r.goal is None:
            met = "-"
        else:
            met = "yes" if stat(r.times, r.goal.stat) <= r.goal.ms else "no"
        note = "; ".join(filter(None, [r.timed_out, r.note]))
        body.append([r.measure, r.server, str(len(r.times)), *numbers, str(r.goal or "-"), met, note])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    align = ["<", "<", ">", ">", ">", ">", ">", "<", "<", "<"]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    return [line(header), "-" * len(line(header)), *(line(b) for b in body)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,200,5000", help="examples per file (default 10,200,5000)")
    parser.add_argument("--edits", type=int, default=20,
                        help="timed changes per file (default 20; an odd count is rounded up: each x typed is "
                             "deleted again, so the file ends as it began and the requests timed after see it so)")
    parser.add_argument("--hovers", type=int, default=40, help="timed hovers per measurement (default 40)")
    parser.add_argument("--requests", type=int, default=40,
                        help="timed completion, semanticTokens and documentSymbol requests per measurement (default 40)")
    parser.add_argument("--starts", type=int, default=5, help="timed server starts (default 5)")
    parser.add_argument("--pause", type=float, default=0.3,
                        help="seconds between a change's diagnostics and the next change (default 0.3)")
    parser.add_argument("--hover-spacing", type=float, default=0.025,
                        help="seconds between hovers during the optimization (default 0.025)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"seconds a server may take for one answer before its row says it timed out (default {TIMEOUT_S:g})")
    parser.add_argument("--no-taplo", action="store_true", help="promptlsp only")
    parser.add_argument("--smoke", action="store_true",
                        help="size 10, 4 edits, 5 hovers, 1 start; 3 hovers after the optimization's first "
                             "model call, at 50 ms per call")
    args = parser.parse_args(argv)
    args.edits += args.edits % 2
    args.sizes = [10] if args.smoke else [int(s) for s in args.sizes.split(",") if s.strip()]
    args.optimize_hovers, args.stub_latency = args.hovers, 0.2
    if args.smoke:
        args.edits, args.hovers, args.starts, args.requests = 4, 5, 1, 5
        args.optimize_hovers, args.stub_latency = 3, 0.05
    if any(size < 1 for size in args.sizes) or min(args.edits, args.hovers, args.starts, args.requests) < 1:
        parser.error("sizes, edits, hovers, requests and starts must be positive")
    LIMITS.timeout_s = args.timeout
    rows, notes = asyncio.run(bench(args))
    print(f"language server latency (python {sys.version.split()[0]}, {os.cpu_count()} cpus); "
          "percentiles nearest rank over n timed operations; goal: the issue's target for the row, met: measured vs it")
    print()
    for text in table(rows):
        print(text)
    print()
    print(f"didChange→diagnostics: one single-character change (an x typed before a key, then deleted) at a time,")
    print(f"  {args.pause:g} s after the previous one's diagnostics (a pause), timed to the first matching publishDiagnostics.")
    print("hover, first optimization: a fresh server, hovers every "
          f"{args.hover_spacing * 1000:g} ms from the optimize request on (litellm is")
    print("  imported during the run), then after the model's first call; the model is a loopback stub reached through litellm.")
    print("taplo: @taplo/lsp 0.8.0 (Even Better TOML's server, WebAssembly on Node) with the same JSON Schema;")
    print("  it checks syntax and the schema only, promptlsp also templates, examples and criteria.")
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
