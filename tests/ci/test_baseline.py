"""The regression gate's file and comparison: one line per example in a stable order, a worse
prompt regresses, an equal one does not, the tolerance is respected, new/removed are reported."""

import json

import pytest

from promptlsp.ci import baseline

from ci_support import TWO, evaluated


def right(request):  # answers every example of TWO correctly except that 😀-bad misses "never"
    return request["messages"][-1]["content"].split(": ", 1)[1]


def test_saved_file_has_one_sorted_line_per_example_and_keeps_other_files(write, tmp_path):
    target = tmp_path / ".promptlsp" / "baseline.json"
    other = baseline.Entry("z/other.prompt.toml", "kept", "train", 1.0, "x")
    target.parent.mkdir()
    target.write_text(json.dumps({"promptlsp_baseline": 1, "examples": [
        json.loads(other.to_line()), {"file": "two.prompt.toml", "example": "deleted", "split": "train", "score": 1}]}))
    items = evaluated([write("two.prompt.toml", TWO)], right)
    assert baseline.save(target, items) == 4
    lines = target.read_text("utf-8").splitlines()
    assert lines[0] == '{"promptlsp_baseline": 1, "examples": [' and lines[-1] == "]}"
    rows = [json.loads(line.rstrip(",")) for line in lines[1:-1]]
    assert [(r["file"], r["example"]) for r in rows] == [
        ("two.prompt.toml", "good"), ("two.prompt.toml", "plain-bad"), ("two.prompt.toml", "😀-bad"),
        ("z/other.prompt.toml", "kept")]
    assert rows[0] == {"file": "two.prompt.toml", "example": "good", "split": "train", "score": 1.0, "output": "yes"}
    assert json.loads(target.read_text("utf-8"))["examples"] == rows  # and the whole is JSON
    first = target.read_text("utf-8")
    baseline.save(target, items)
    assert target.read_text("utf-8") == first  # stable


def test_a_worse_prompt_regresses_an_equal_one_does_not_within_tolerance(write, tmp_path):
    path = write("two.prompt.toml", TWO)
    target = tmp_path / "base.json"
    baseline.save(target, evaluated([path], right))
    saved = baseline.read(target)

    (same,) = baseline.compare(saved, evaluated([path], right))
    assert not same.regressed(0.0) and same.worse == [] and same.before == same.after == pytest.approx(2.5 / 3)

    (worse,) = baseline.compare(saved, evaluated([path], lambda r: "nope"))
    assert worse.regressed(0.0) and worse.after == 0.0
    assert sorted(c.example for c in worse.worse) == ["good", "plain-bad", "😀-bad"]
    change = next(c for c in worse.worse if c.example == "good")
    assert (change.before.output, change.after.output) == ("yes", "nope")
    assert worse.regressed(0.8) and not worse.regressed(2.5 / 3)  # the drop is 0.833…


def test_new_and_removed_examples_are_reported_not_failed(write, tmp_path):
    path = write("two.prompt.toml", TWO)
    target = tmp_path / "base.json"
    baseline.save(target, evaluated([path], right))
    path.write_text(TWO.replace('id = "plain-bad"', 'id = "renamed"'))
    (c,) = baseline.compare(baseline.read(target), evaluated([path], right))
    assert c.new == ["renamed"] and c.removed == ["plain-bad"] and not c.regressed(0.0)


@pytest.mark.parametrize("text", ["{", '{"examples": []}', '{"promptlsp_baseline": 1, "examples": [{"x": 1}]}'])
def test_a_file_that_is_not_a_baseline_is_an_error(tmp_path, text):
    (tmp_path / "b.json").write_text(text)
    with pytest.raises(baseline.BaselineError):
        baseline.read(tmp_path / "b.json")
