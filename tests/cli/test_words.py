"""What the CLI says about itself and its counts: --version, singular counts."""

import subprocess
import sys

import promptlsp
from promptlsp.cli.main import main
from promptlsp.cli.words import plural


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"promptlsp {promptlsp.__version__}\n"
    proc = subprocess.run([sys.executable, "-m", "promptlsp", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"promptlsp {promptlsp.__version__}"


def test_plural():
    assert [plural(n, "example") for n in (0, 1, 2)] == ["0 examples", "1 example", "2 examples"]
    assert plural(1, "model call") == "1 model call" and plural(3, "child", "children") == "3 children"


def test_eval_counts_one_example_in_the_singular(workspace, capsys):
    text = workspace.read_bytes().decode("utf-8")
    workspace.write_bytes(text.replace('split = "validation"', 'split = "test"', 1).encode("utf-8"))
    assert main(["eval", str(workspace), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "test: score 0.000 over 1 example, 0 passed, 0 errors" in out
    assert "; 1 model call, 0 from cache" in out
