"""The quality bench's label tasks (sentiment_reviews, support_routing): data written for the
bench, vendored with its sha256; task files as make_tasks.py writes them, a first-draft system
message without an answer format, labels balanced in every split, a check that wants the whole
reply to be the label; the peers and the scripted model word and give the answer that way."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
QUALITY = REPO / "bench" / "quality"
LABELS = {"sentiment_reviews": ("negative", "neutral", "positive"),
          "support_routing": ("account", "billing", "shipping", "technical")}
DATA = {"sentiment_reviews": "reviews.jsonl", "support_routing": "tickets.jsonl"}


def _import(name: str, folder: Path):
    sys.path.insert(0, str(folder))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(folder))


def _doc(name: str) -> dict:
    return tomllib.loads((QUALITY / "tasks" / f"{name}.prompt.toml").read_text(encoding="utf-8"))


def test_label_task_files_are_what_make_tasks_writes() -> None:
    make_tasks = _import("make_tasks", QUALITY)
    assert set(make_tasks.LABEL_TASKS) == set(LABELS)
    for name in LABELS:
        assert make_tasks.label_task(name) == (QUALITY / "tasks" / f"{name}.prompt.toml").read_text(encoding="utf-8"), name
        assert make_tasks.label_task(name) == make_tasks.label_task(name)  # byte-identical on rerun


def test_make_tasks_check_passes() -> None:
    if not (REPO.parent / "shared" / "data" / "bigbench" / "object_counting.json").exists():
        pytest.skip("BIG-bench data not found: --check also writes the BIG-bench tasks")
    done = subprocess.run([sys.executable, str(QUALITY / "make_tasks.py"), "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_vendored_data_matches_its_recorded_sha256_and_readme(tmp_path: Path) -> None:
    make_tasks = _import("make_tasks", QUALITY)
    readme = (QUALITY / "data" / "README.md").read_text(encoding="utf-8")
    for name, spec in make_tasks.LABEL_TASKS.items():
        path = QUALITY / "data" / spec.file
        assert spec.file == DATA[name]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == spec.sha256 and f"`{digest}`" in readme, name
        changed = tmp_path / spec.file
        changed.write_bytes(path.read_bytes().replace(b'"label": "', b'"label": "x', 1))
        with pytest.raises(SystemExit, match="sha256"):
            make_tasks.checked_text(changed, spec.sha256)


def test_data_rows_are_unique_and_labelled() -> None:
    for name, file in DATA.items():
        rows = [json.loads(line) for line in (QUALITY / "data" / file).read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 160, name
        assert len({r["id"] for r in rows}) == 160, name
        texts = [r.get("review") or r["message"] for r in rows]
        assert len({t.strip().lower() for t in texts}) == 160, name  # no text twice, whatever its case
        if name == "support_routing":
            assert len({r["subject"].strip().lower() for r in rows}) == 160
        counts = collections.Counter(r["label"] for r in rows)
        assert set(counts) == set(LABELS[name]) and max(counts.values()) - min(counts.values()) <= 1, counts
        doc = _doc(name)
        questions = [e["vars"]["question"] for e in doc["examples"]]
        assert len(set(questions)) == 160, name


def test_labels_are_balanced_in_every_split_and_its_first_examples() -> None:
    for name, labels in LABELS.items():
        doc = _doc(name)
        for split, size in (("train", 30), ("validation", 30), ("test", 100)):
            expected = [e["expected"] for e in doc["examples"] if e["split"] == split]
            assert len(expected) == size, (name, split)
            for first in (12, 30, size):  # the bench's default --val-size 12 / --test-size 30 take the first N
                counts = collections.Counter(expected[:first])
                assert set(counts) == set(labels), (name, split, first, counts)
                assert max(counts.values()) - min(counts.values()) <= 1, (name, split, first, counts)


def test_label_task_shape() -> None:
    """The bench's shape (the question variable, the system message the target) with a first
    draft that states no answer format, while the task and constraint state it exactly."""
    quality = _import("quality", REPO / "bench")
    for name, labels in LABELS.items():
        doc = _doc(name)
        assert doc["prompt"]["template"] == "{{ question }}" and doc["optimize"]["targets"] == ["system"], name
        system = doc["prompt"]["system"]
        assert system.strip() and not re.search(r"(?i)\b(reply|answer|only|word|lowercase|format)\b", system), system
        assert "exactly one lowercase" in doc["task"] and all(label in doc["task"] for label in labels), doc["task"]
        [constraint] = doc["optimize"]["constraints"]
        assert "only" in constraint and "nothing else" in constraint and all(label in constraint for label in labels)
        assert doc["models"]["task"] == {"temperature": 0, "max_tokens": 16}, name
        for e in doc["examples"]:
            [check] = e["assert"]
            assert check["name"] == "label only" and check["type"] == "regex" and e["expected"] in labels, e
            if name == "support_routing":
                assert re.fullmatch(r"Subject: [^\n]+\nMessage: [^\n]+", e["vars"]["question"]), e
        task = quality.load_task(name, {})  # promptlsp reads it without errors, splits as written
        assert (len(task.train), len(task.validation), len(task.test)) == (30, 30, 100)
        assert name in quality.MORE_TASKS and name not in quality.TASKS  # by name only, not in the default run


def test_label_check_accepts_the_label_alone() -> None:
    doc = _doc("sentiment_reviews")
    example = next(e for e in doc["examples"] if e["expected"] == "positive")
    regex = example["assert"][0]["value"]
    for output in ("positive", " Positive.", "**positive**", "POSITIVE", "`positive`", '"positive".', "positive\n"):
        assert re.search(regex, output), output
    for output in ("The sentiment is positive.", "positive or neutral", "neutral", "Positive: the buyer loves it",
                   "Answer: positive", "positively", "positive\nneutral", ""):
        assert not re.search(regex, output), output
    ticket = next(e for e in _doc("support_routing")["examples"] if e["expected"] == "technical")
    regex = ticket["assert"][0]["value"]
    assert re.search(regex, "Technical") and re.search(regex, "**technical**.")
    for output in ("technical support", "The technical team.", "billing"):
        assert not re.search(regex, output), output


def test_peers_are_told_the_whole_reply_is_the_label() -> None:
    peer_common = _import("peer_common", QUALITY)
    first = _doc("sentiment_reviews")["examples"][0]
    value = first["expected"]
    label = {"expected": [value], "regex": first["assert"][0]["value"], "check": first["assert"][0]["name"]}
    assert peer_common.feedback(label, value) == f"Correct: the response is exactly the label '{value}'."
    wrong = peer_common.feedback(label, f"The sentiment is {value}.")
    assert "whole response must be exactly" in wrong and "Answer:" not in wrong, wrong
    assert "whole response is exactly the correct label" in peer_common.check_description(label)
    line = {"expected": ["9", "nine"], "regex": r"(?i)\banswer:\s*(?:9|nine)\s*\Z", "check": "final answer"}
    assert peer_common.feedback(line, "Answer: 9") == "Correct: the response ends with the right final line 'Answer: nine'."
    assert "'Answer: <the correct answer>'" in peer_common.check_description(line)  # the other tasks: as before


def test_scripted_model_answers_label_tasks_with_the_label_alone() -> None:
    scripted = _import("scripted_model", QUALITY)
    doc = _doc("support_routing")
    examples = [(e["vars"]["question"], (e["expected"],), e["assert"][0]["name"]) for e in doc["examples"]]
    model = scripted.ScriptedModel(examples)
    rewritten = scripted.revised(doc["prompt"]["system"])  # any rewrite answers every question right
    for e in doc["examples"][:10]:
        output = model.task(rewritten, e["vars"]["question"])
        assert re.search(e["assert"][0]["value"], output), output


def test_smoke_runs_the_label_tasks_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    done = subprocess.run([sys.executable, str(REPO / "bench" / "quality.py"), "--smoke", "--tasks",
                           "sentiment_reviews,support_routing", "--methods", "initial,gradsum", "--results", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning:" not in done.stdout, done.stdout
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {(r["task"], r["method"]) for r in runs} == {(t, m) for t in LABELS for m in ("initial", "gradsum")}
    assert all(r["status"] == "ok" and r["n"] == 3 for r in runs), runs
    # the scripted model's right answers are the label alone, which the checks accept
    assert max(r["score"] for r in runs) == 1.0, runs
