"""Catastrophic regular expressions end in a failed check, and never freeze the event loop.

Python's ``re`` cannot be interrupted (it holds the GIL), so each scenario runs in a child
process with a generous hang guard: on the old code the child never finishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from promptlsp.document.model import Criterion
from promptlsp.evaluate.assertions import check

HANG_GUARD_S = 120


def run_child(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_catastrophic_regex_check_times_out_and_fails_with_a_reason():
    got = run_child('''
        import json
        from promptlsp.document.model import Criterion
        from promptlsp.evaluate.assertions import check
        out = {}
        for kind in ("regex", "not-regex"):
            # exponential backtracking for re; long enough that the timed engine gives up too
            c = check(Criterion(type=kind, name=kind, value="(x+x+)+y"), "x" * 5000, None)
            out[kind] = [c.score, c.reason]
        # the issue's case: ~35 s for re at 27 characters, 4x more per two characters
        c = check(Criterion(type="regex", name="r", value="(a+)+$"), "a" * 40 + "!", None)
        out["issue"] = [c.score, c.reason]
        print(json.dumps(out))
    ''')
    for kind in ("regex", "not-regex"):  # a check that could not run never passes
        score, reason = got[kind]
        assert score == 0.0
        assert reason.startswith('regex "(x+x+)+y" timed out after 1 s'), reason
    assert got["issue"] == [0.0, 'output does not match the regex "(a+)+$"']


def test_a_json_schema_pattern_is_timed_too():
    got = run_child('''
        import json
        from promptlsp.document.model import Criterion
        from promptlsp.evaluate.assertions import check
        schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(x+x+)+y"}}}
        c = check(Criterion(type="json-schema", name="s", value=schema), json.dumps({"a": "x" * 5000}), None)
        keys = {"type": "object", "patternProperties": {"(x+x+)+y": {}}, "additionalProperties": False}
        k = check(Criterion(type="json-schema", name="k", value=keys), json.dumps({"x" * 5000: 1}), None)
        print(json.dumps([c.score, c.reason, k.score, k.reason]))
    ''')
    assert got[0] == 0.0 and "schema pattern '(x+x+)+y' timed out after 1 s" in got[1]
    assert got[2] == 0.0 and "timed out after 1 s" in got[3]


def test_schema_regex_keywords_keep_their_messages():
    def reason(schema, output):
        return check(Criterion(type="json-schema", name="s", value=schema), output, None).reason

    assert reason({"properties": {"a": {"pattern": "^b"}}}, '{"a": "x"}') == (
        "JSON does not match the schema at $.a: 'x' does not match '^b'")
    closed = {"patternProperties": {"^a": {"type": "string"}}, "additionalProperties": False}
    assert reason(closed, '{"a": 1}') == "JSON does not match the schema at $.a: 1 is not of type 'string'"
    assert reason(closed, '{"a": "x", "b": 1}') == "JSON does not match the schema: 'b' does not match any of the regexes: '^a'"
    assert reason({"additionalProperties": False}, '{"b": 1}') == (
        "JSON does not match the schema: Additional properties are not allowed ('b' was unexpected)")
    assert reason({"additionalProperties": {"type": "string"}}, '{"b": 1}') == (
        "JSON does not match the schema at $.b: 1 is not of type 'string'")


def test_evaluating_a_catastrophic_regex_leaves_the_event_loop_free():
    got = run_child('''
        import asyncio, json, pathlib, tempfile
        from promptlsp.document import analyze
        from promptlsp.engine import Engine, ScriptedBackend
        from promptlsp.evaluate.runner import evaluate

        TEXT = """task = "t"
        [prompt]
        template = "{{ q }}"
        [[criteria]]
        type = "regex"
        value = "(x+x+)+y"
        [[examples]]
        vars = { q = "a" }
        """

        async def main():
            folder = pathlib.Path(tempfile.mkdtemp())
            prompt_file = analyze(TEXT, folder / "m.prompt.toml", folder).prompt
            session = Engine(cache_path=None, backend=ScriptedBackend(routes={"task": "x" * 5000})).session()
            ticks, done = 0, False

            async def ticker():
                nonlocal ticks
                while not done:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            report = await evaluate(session, prompt_file)
            done = True
            await task
            check = report.results[0].checks[0]
            print(json.dumps([ticks, check.score, check.reason]))

        asyncio.run(main())
    ''')
    ticks, score, reason = got
    assert score == 0.0 and "timed out after 1 s" in reason
    # the check took at least the 1 s timeout; a free loop ticks ~100 times meanwhile
    assert ticks >= 10, ticks


def test_a_regex_that_compiles_to_gigabytes_is_refused_as_too_complex():
    # `regex` writes out every repeat's minimum count: this one took 3 s and 2 GB to compile
    # (one more level ran out of memory); under a 1 GB address-space cap the old code crashed
    got = run_child('''
        import json, resource
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
        from promptlsp.document.model import Criterion
        from promptlsp.evaluate.assertions import check
        big = "(((a{50}){50}){50}){50}"
        out = {}
        for kind in ("regex", "not-regex"):
            c = check(Criterion(type=kind, name=kind, value=big), "a" * 100, None)
            out[kind] = [c.score, c.reason]
        schema = {"type": "string", "pattern": big}
        c = check(Criterion(type="json-schema", name="s", value=schema), json.dumps("a"), None)
        out["schema"] = [c.score, c.reason]
        print(json.dumps(out))
    ''')
    for kind in ("regex", "not-regex"):
        assert got[kind] == [0.0, 'regex "(((a{50}){50}){50}){50}" is too complex: its nested repeat counts '
                                  'multiply to 6505101 elements (at most 100000)'], got[kind]
    score, reason = got["schema"]
    assert score == 0.0
    assert reason.startswith("the JSON schema cannot be applied: schema pattern '(((a{50}){50}){50}){50}' is too complex"), reason


def test_what_counts_toward_complexity():
    from promptlsp.evaluate.timed_regex import RegexUnusable, unrolled_size

    # only minimum counts are written out: an upper bound or an open repeat costs nothing extra
    assert unrolled_size("((a{0,50}){0,50}){0,50}") < 10
    assert unrolled_size("((a*){2,}){3,9}") < 50
    assert unrolled_size("((a{50}){50}){50}") > 125_000
    assert unrolled_size("(?=(a{50}){50})") > 2_500  # inside a lookahead too
    assert unrolled_size("(ab|c(?:d{1000}))") > 1_000  # inside a branch
    try:
        unrolled_size("(a")
    except RegexUnusable as exc:
        assert "missing )" in str(exc)
    else:
        raise AssertionError("an invalid pattern has no size")


def test_harmless_patterns_still_match_and_a_long_one_is_refused():
    def reason(pattern, output="2024-01 aaa"):
        return check(Criterion(type="regex", name="r", value=pattern), output, None).reason

    assert reason(r"\d{4}-\d{2}") == 'output matches the regex "\\d{4}-\\d{2}" at "2024-01"'
    assert reason("((a{0,50}){0,50}){0,50}$") == 'output matches the regex "((a{0,50}){0,50}){0,50}$" at "aaa"'
    assert reason("a{99999}").startswith('output does not match the regex "a{99999}"')
    assert reason("a{100000}") == ('regex "a{100000}" is too complex: its nested repeat counts multiply to '
                                   '100001 elements (at most 100000)')
    assert reason("x" * 100_001).endswith("is too complex: it is 100001 characters long (at most 100000)")
