"""analyze() reads data with tomllib and falls back to tomlkit: both must give the same data."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from promptlsp.document import analyze
from promptlsp.document import analysis as analysis_module

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "prompts-spec" / "examples").glob("*.prompt.toml"))

TRICKY = '''\
version = 1
name = "tricky"
[prompt]
template = """
Line one \\
  continued, tab\\there, "quotes", é 😀 中文
{{ q }}"""
system = \'\'\'literal \\n stays\'\'\'
[[examples]]
vars = { q = "x", n = 1_000, f = 6.5e-1, when = 1979-05-27T07:32:00Z, day = 1979-05-27, yes = true }
expected = ["a", 'b']
[[criteria]]
type = "equals"
'''


@pytest.mark.parametrize("text", [p.read_text(encoding="utf-8") for p in EXAMPLES] + [TRICKY],
                         ids=[p.name for p in EXAMPLES] + ["tricky"])
def test_fast_reader_gives_tomlkits_data(text: str, tmp_path: Path) -> None:
    fast = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    assert analysis_module._fast_toml is not None  # this interpreter has tomllib (or tomli)
    assert fast.data == tomlkit.parse(text).unwrap()


def test_without_the_fast_reader_the_analysis_is_the_same(tmp_path: Path, monkeypatch) -> None:
    text = EXAMPLES[0].read_text(encoding="utf-8")
    fast = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    monkeypatch.setattr(analysis_module, "_fast_toml", None)
    slow = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    assert slow.data == fast.data and slow.prompt == fast.prompt
    assert [d.message for d in slow.diagnostics] == [d.message for d in fast.diagnostics]


def test_syntax_errors_keep_tomlkits_message_and_position(tmp_path: Path) -> None:
    text = 'version = 1\nname = "x"\n[prompt]\ntemplate = "two" "strings"\n'  # (unterminated: test_hardening)
    a = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    (d,) = [d for d in a.diagnostics if d.code == "toml-syntax"]
    assert a.data is None and a.prompt is None
    try:
        tomlkit.parse(text)
    except Exception as exc:
        assert d.message == str(exc).rsplit(" at line ", 1)[0]
    else:
        pytest.fail("tomlkit accepted two strings as one value")
    assert a.source.position(d.span.start, "utf-16").line == 3  # on the template's line


def test_crlf_strings_keep_their_line_endings(tmp_path: Path) -> None:
    text = EXAMPLES[0].read_text(encoding="utf-8").replace("\n", "\r\n")
    a = analyze(text, tmp_path / "a.prompt.toml", tmp_path)
    assert a.data == tomlkit.parse(text).unwrap()
    multiline = [v for v in (a.data["prompt"].get("template"), a.data["prompt"].get("system")) if v and "\n" in v]
    assert all("\r\n" in v for v in multiline)
