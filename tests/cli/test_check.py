"""`promptlsp check`: output format, exit codes, and no traceback on any input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from promptlsp.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "prompts-spec" / "examples"
GOOD = '''task = "Say hi."
[prompt]
template = "Hi {{ name }} 😀"
[[examples]]
vars = { name = "Ann" }
split = "validation"
'''


def write(tmp_path, text, name="p.prompt.toml"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_clean_file_exits_0_and_says_so(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, GOOD))]) == 0
    assert capsys.readouterr().out == "1 file checked: no problems\n"
    assert main(["check", str(write(tmp_path, GOOD)), str(write(tmp_path, GOOD, "b.prompt.toml"))]) == 0
    assert capsys.readouterr().out == "2 files checked: no problems\n"


def test_the_summary_counts_errors_and_warnings(tmp_path, capsys):
    broken = write(tmp_path, 'task = "x" junk\n', "broken.prompt.toml")
    assert main(["check", str(broken), str(write(tmp_path, GOOD))]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 files checked: 1 error"
    unused = write(tmp_path, GOOD.replace('name = "Ann" }', 'name = "Ann", extra = 1, more = 2 }'), "w.prompt.toml")
    assert main(["check", str(unused), str(broken)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 files checked: 1 error, 2 warnings"
    assert main(["check", "--format", "json", str(write(tmp_path, GOOD))]) == 0
    assert json.loads(capsys.readouterr().out) == {"files": [{"file": str(tmp_path / "p.prompt.toml"), "diagnostics": []}]}


def test_errors_exit_1_with_path_line_col_lines(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace('template = "Hi', 'tempate = "x"\ntemplate = "Hi'))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:3:1: error: unknown key 'tempate' in prompt (did you mean 'template'?); "
        "allowed keys: system, template [schema]",
        "1 file checked: 1 error",
    ]


def test_columns_count_characters_not_bytes(tmp_path, capsys):
    path = write(tmp_path, 'task = "😀中" junk\n')
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}:1:13: error:")


def test_json_format_has_both_editor_and_human_positions(tmp_path, capsys):
    path = write(tmp_path, 'task = "😀" junk\n')
    assert main(["check", "--format", "json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    (d,) = report["files"][0]["diagnostics"]
    assert d["code"] == "toml-syntax" and (d["line"], d["column"]) == (1, 12)
    assert d["range"]["start"] == {"line": 0, "character": 12}  # UTF-16: the emoji counts twice


@pytest.mark.parametrize("make", ["missing", "directory", "not-utf8"])
def test_unreadable_files_exit_2(tmp_path, capsys, make):
    if make == "missing":
        target = tmp_path / "nope.prompt.toml"
    elif make == "directory":  # a folder is searched for prompt files: this one has none
        target = tmp_path / "dir.prompt.toml"
        target.mkdir()
    else:
        target = write(tmp_path, b"task = '\xff'\n")
    good = write(tmp_path, GOOD, "good.prompt.toml")
    assert main(["check", str(target), str(good)]) == 2
    err = capsys.readouterr().err
    said = f"{target}: no .prompt.toml files in this folder" if make == "directory" else f"cannot read {target}"
    assert said in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["check"]) == 2
    assert main(["check", "--format", "xml", "x"]) == 2


def test_every_shipped_example_is_clean(capsys):
    files = sorted(EXAMPLES.glob("*.prompt.toml"))
    assert len(files) >= 4
    assert main(["check", *map(str, files)]) == 0, capsys.readouterr().out


def test_entry_point_runs_without_importing_litellm(tmp_path):
    path = write(tmp_path, GOOD)
    code = (
        "import sys; from promptlsp.cli.main import main; rc = main(['check', sys.argv[1]]);"
        "assert 'litellm' not in sys.modules, 'check imported litellm'; raise SystemExit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
