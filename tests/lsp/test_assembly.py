"""How the server is put together: built by a factory (no module-level singleton), its version
from the package, pulled diagnostics with result ids, and a keystroke's path clear of the optimizer."""

from __future__ import annotations

import os
import subprocess
import sys

import promptlsp
from promptlsp.lsp import server as server_module
from promptlsp.lsp.factory import create_server

TEXT = 'task = "t"\n[prompt]\ntemplate = "Hi {{ nam }}"\n[[examples]]\nvars = { name = "Ann" }\n'


def test_each_server_is_built_anew_and_owns_its_parts():
    first, second = create_server(), create_server()
    assert not hasattr(server_module, "server")  # nothing is built at import
    assert first.analyses is not second.analyses and first.runs is not second.runs
    assert first.critiques is not second.critiques


async def test_the_server_reports_the_packages_version(inprocess, tmp_path):
    server = inprocess(root_uri=tmp_path.as_uri())
    answer = next(m for m in server.sent if m.get("id") == 1)
    assert answer["result"]["serverInfo"] == {"name": "promptlsp", "version": promptlsp.__version__}


async def test_a_pull_with_the_current_result_id_is_answered_unchanged(inprocess, tmp_path):
    server = inprocess(root_uri=tmp_path.as_uri())
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    first = (await server.request("textDocument/diagnostic", {"textDocument": {"uri": uri}}))["result"]
    assert first["kind"] == "full" and first["items"] and first["resultId"]
    again = (await server.request("textDocument/diagnostic",
                                  {"textDocument": {"uri": uri}, "previousResultId": first["resultId"]}))["result"]
    assert again == {"kind": "unchanged", "resultId": first["resultId"]}
    server.change(uri, 2, [server.edit((2, 21), (2, 21), "e")])  # {{ name }}: one diagnostic fewer
    fixed = (await server.request("textDocument/diagnostic",
                                  {"textDocument": {"uri": uri}, "previousResultId": first["resultId"]}))["result"]
    assert fixed["kind"] == "full" and len(fixed["items"]) == len(first["items"]) - 1
    assert fixed["resultId"] != first["resultId"]


def test_the_server_starts_without_the_optimizer_behind_its_diagnostics():
    """Building the server (every feature a keystroke reaches) imports neither the optimizer's
    candidates (the quote anchoring lives in document/) nor litellm."""
    code = ("import sys; from promptlsp.lsp.factory import create_server; create_server(); "
            "print(sorted(m for m in sys.modules if m.startswith('promptlsp.optimize.') and m != 'promptlsp.optimize.events'"
            " or m == 'litellm'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
