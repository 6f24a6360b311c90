"""`promptlsp optimize --write` on the real embedded model finishes and leaves a valid file.

No score gain is asserted: a 0.5B model on 2 CPU cores is noisy. What must hold is the
contract: the run ends with a finished (or budget) status, every event is recorded, and the file
is either unchanged or rewritten with only its template changed and still valid.
"""

import json
import subprocess
import sys

import pytest

from promptlsp.document import analyze
from promptlsp.runs import RunStore

pytestmark = pytest.mark.local_model

FILE = '''#:schema ../prompt.schema.json
# A tiny sentiment task for the end-to-end test on the local model.
task = "Classify the sentiment of a product review as positive or negative."

[prompt]
template = """Review: {{ review }}
Sentiment?"""

[models.task]
max_tokens = 6
seed = 11

[models.optimizer]
max_tokens = 160
seed = 11

[[criteria]]
type = "icontains"

[[examples]]
vars = { review = "I love it, works perfectly." }
expected = "positive"

[[examples]]
vars = { review = "Broke after one day. Awful." }
expected = "negative"

[[examples]]
vars = { review = "Great value, would buy again." }
expected = "positive"
split = "validation"

[[examples]]
vars = { review = "Terrible smell, returned it." }
expected = "negative"
split = "validation"

[optimize]
method = "gradsum"
iterations = 1
beam_width = 1
candidates = 1
minibatch = 2
seed = 11
'''


@pytest.mark.parametrize("method", ["gradsum", "tgd"])
def test_optimize_on_the_local_model_writes_a_valid_file(tmp_path, method):
    (tmp_path / ".git").mkdir()
    path = tmp_path / "tiny.prompt.toml"
    path.write_text(FILE, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "promptlsp", "optimize", str(path), "--method", method, "--write", "--format", "json"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["status"] in ("finished", "budget-exhausted")
    assert result["accounting"]["total"]["calls"] > 0
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text, path, tmp_path)
    assert analysis.ok and analysis.prompt is not None, analysis.diagnostics
    assert analysis.prompt.template == result["best"]["template"]
    assert "{{ review }}" in analysis.prompt.template.replace("{{review}}", "{{ review }}")
    if not result["written"]:
        assert text == FILE
    else:
        assert text.split("[models.task]")[1] == FILE.split("[models.task]")[1]  # only the template changed
    store = RunStore(tmp_path / ".promptlsp" / "runs.sqlite")
    summary = store.run(result["run_id"])
    assert summary is not None and summary.run.status == result["status"] and summary.example_scores > 0
