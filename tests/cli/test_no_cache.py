"""``--no-cache`` asks the models afresh and refreshes the cache with what they said."""

import json
import sqlite3

from promptlsp.cli.main import main

STALE = "an answer cached by an older run"


def _eval(workspace, capsys, *flags):
    assert main(["eval", str(workspace), "--format", "json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_no_cache_skips_reads_but_overwrites_the_cached_answers(workspace, capsys):
    first = _eval(workspace, capsys)
    cache = workspace.parent / ".promptlsp" / "cache.sqlite"
    with sqlite3.connect(cache) as db:
        assert db.execute("UPDATE responses SET text = ?", (STALE,)).rowcount == 12
    db.close()
    assert {e["output"] for e in _eval(workspace, capsys)["examples"]} == {STALE}  # the cache is read

    fresh = _eval(workspace, capsys, "--no-cache")
    assert fresh["accounting"]["total"]["calls"] == 12 and fresh["accounting"]["total"]["cache_hits"] == 0
    assert [e["output"] for e in fresh["examples"]] == [e["output"] for e in first["examples"]]

    again = _eval(workspace, capsys)  # the fresh answers replaced the stale ones
    assert again["accounting"]["total"]["cache_hits"] == 12 and again["accounting"]["total"]["calls"] == 0
    assert [e["output"] for e in again["examples"]] == [e["output"] for e in first["examples"]]
