"""Write the task files of ``bench/quality.py``: fixed, seeded splits every method sees.

    python bench/quality/make_tasks.py [--data ../shared/data/bigbench] [--check]

Writes ``bench/quality/tasks/<task>.prompt.toml`` for every task below (committed; rerunning
gives byte-identical files, ``--check`` says whether they are current):

* ``object_counting``, ``word_sorting``: BIG-bench tasks (the ones of TextGrad's
  prompt-optimization table), from ``examples: [{input, target}]``; a shuffle seeded with
  ``SEED`` picks 30 train / 30 validation / 100 test examples. Word-sorting inputs get the
  BBH wording ("Sort the following words alphabetically: List: ...").
* ``commonsense_math``: the 10 examples of ``prompts-spec/examples/commonsense-math.prompt.toml``,
  split 4 train / 2 validation / 4 test by the same seeded shuffle (the example file's own
  split has only 2 test examples). Its llm-rubric and format criteria are dropped: every task is
  scored by exact match only, so no judge model takes part.
* ``sports_understanding`` (yes / no), ``logical_deduction_three_objects`` (options A–C),
  ``date_understanding`` (A–F), ``disambiguation_qa`` (A–C): BIG-Bench Hard tasks, short answers
  whose *format* a small model gets wrong as often as the content. Read from the files vendored
  in ``bench/quality/data/bbh/`` — the BBH repository (github suzgunmirac/BIG-Bench-Hard, MIT;
  the examples are BIG-bench's, Apache-2.0), commit 9ee07bd481feebf959a6b59d61ea57bdcf30964d,
  ``bbh/<task>.json`` unchanged; each file's sha256 is recorded in ``BBH_TASKS`` and checked
  before use (``bench/quality/data/README.md`` says more: the ``bigbench`` package on PyPI has no
  downloadable 1.0.0 file, and 0.0.1 holds no task data). Same seeded 30 / 30 / 100 split; the
  question is the BBH input as is, the multiple-choice options included.
* ``sentiment_reviews`` (positive / negative / neutral) and ``support_routing`` (billing /
  shipping / account / technical): classification tasks where the *answer format* is the lever,
  like the shipped examples ``sentiment.prompt.toml`` and ``support-routing.prompt.toml`` but with
  160 examples each, written for this bench (``bench/quality/data/reviews.jsonl`` and
  ``tickets.jsonl``, sha256 in ``LABEL_TASKS``, checked before use; the data README says how they
  were written). The system message is a user's first draft that names **no** answer format
  ("Read the customer review and say what its sentiment is."); ``task`` and the constraint, which
  every optimizer reads, say the reply must be exactly one lowercase label. The question is the
  review, or the ticket as ``Subject: ...`` / ``Message: ...`` lines. Split 30 / 30 / 100 by
  ``_stratified_split`` (a stratified variant of the seeded shuffle: the labels are balanced in
  every split and in every split's first N); task-model max_tokens 16.

Every file has the same shape: the instruction is the **system message**, the user message is
the raw question (``template = "{{ question }}"``), and the optimizers may rewrite the system
message only (``targets = ["system"]``) — TextGrad's prompt-optimization setup, so all methods
optimize the same string.

Exact match (the one scorer, promptlsp's ``regex`` check, per example): except on the label tasks
(below), the output must *end* with a line ``Answer: <value>`` — case-insensitive, optional markdown/quote decoration around the
value (``**``, backticks, quotes, a leading ``$``), an optional final period, trailing whitespace
allowed, nothing else after the value. ``<value>`` is any of the example's targets: for object
counting both forms (``nine`` or ``9``); for word sorting the sorted words separated by spaces or
tabs (commas fail); for yes / no tasks ``yes`` or ``no`` in any case; for multiple choice the
option's letter as ``(B)``, ``B`` or ``B)``, optionally followed by the option's own text
(``Answer: (B) 12/25/1937``; another option's text fails). Commonsense-math keeps the example
file's own per-example answer regexes. The label tasks' check (named ``label only``) wants the
*whole* output to be the label: case-insensitive, surrounding whitespace, the same optional
decoration and a final period allowed (``Positive.``, ``**positive**``), nothing else (``The
sentiment is positive.`` fails).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from peer_common import LABEL_CHECK  # the label tasks' check name: the peers' feedback words the format by it

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "bigbench"
COMMONSENSE = REPO / "prompts-spec" / "examples" / "commonsense-math.prompt.toml"
BBH_DATA = HERE / "data" / "bbh"
OUT = HERE / "tasks"
SEED = 20240601
SIZES = {"train": 30, "validation": 30, "test": 100}
SMALL_SIZES = {"train": 4, "validation": 2, "test": 4}
CONSTRAINT = 'The response must end with a final line of the form "Answer: <answer>".'
LABEL_MAX_TOKENS = 16  # a label is 1-2 tokens; room for "**Positive**." and a short sentence

# Characters a model may wrap the value in without changing it.
_DECOR = r"[*_`\x22\x27$]*"  # ** _ ` " ' $ (escaped, so the pattern fits a TOML literal string)


def final_answer_regex(values: list[str]) -> str:
    """The output ends with ``Answer: <one of values>`` (see the module docstring)."""
    alts = "|".join(r"[ \t]+".join(re.escape(w) for w in v.split()) for v in sorted(set(values), key=len, reverse=True))
    return rf"(?i)\banswer\s*(?:\*\*)?:(?:\*\*)?[ \t]*{_DECOR}[ \t]*(?:{alts})[ \t]*{_DECOR}\.?{_DECOR}\s*\Z"


def _split(items: list, sizes: dict[str, int]) -> list[tuple[str, object]]:
    order = list(range(len(items)))
    random.Random(SEED).shuffle(order)
    out, start = [], 0
    for split, size in sizes.items():
        out += [(split, items[i]) for i in order[start:start + size]]
        start += size
    return out


def _document(*, name: str, header: str, task: str, system: str, task_max_tokens: int,
              constraint: str = CONSTRAINT) -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    for line in header.strip().splitlines():
        doc.add(tomlkit.comment(line) if line.strip() else tomlkit.nl())
    doc.add(tomlkit.nl())
    doc["version"] = 1
    doc["name"] = name
    doc["task"] = task
    prompt = tomlkit.table()
    prompt["system"] = system
    prompt["template"] = "{{ question }}"
    doc["prompt"] = prompt
    models = tomlkit.table(is_super_table=True)
    models["task"] = {"temperature": 0, "max_tokens": task_max_tokens}
    models["optimizer"] = {"max_tokens": 512}
    doc["models"] = models
    optimize = tomlkit.table()
    optimize["method"] = "gradsum"
    optimize["iterations"] = 10
    optimize["beam_width"] = 2
    optimize["candidates"] = 2
    optimize["minibatch"] = 3
    optimize["seed"] = 0
    optimize["targets"] = ["system"]
    optimize["constraints"] = [constraint]
    budget = tomlkit.table()
    budget["max_calls"] = 40
    optimize["budget"] = budget
    doc["optimize"] = optimize
    return doc


def _string(text: str):
    """A TOML literal string when possible (regexes read as written), else a basic one."""
    literal = "'" not in text and "\n" not in text
    return tomlkit.string(text, literal=literal)


def _add_examples(doc: tomlkit.TOMLDocument, rows: list[dict], check: str = "final answer") -> None:
    examples = tomlkit.aot()
    for row in rows:
        table = tomlkit.table()
        table["id"] = row["id"]
        table["split"] = row["split"]
        expected = row["expected"]
        table["expected"] = expected if len(expected) > 1 else expected[0]
        assertion = tomlkit.inline_table()
        assertion.update({"name": check, "type": "regex", "value": _string(row["regex"])})
        checks = tomlkit.array()
        checks.append(assertion)
        table["assert"] = checks
        variables = tomlkit.inline_table()
        variables["question"] = row["question"]
        table["vars"] = variables
        examples.append(table)
    doc["examples"] = examples


HEADER = """\
Generated by bench/quality/make_tasks.py (seed {seed}) from {source}. Do not edit by hand:
change the script and rerun it. Used by bench/quality.py; splits {sizes}.
Scored by exact match: the output must end with "Answer: <value>" (see make_tasks.py)."""


def object_counting(data: Path) -> str:
    examples = json.loads((data / "object_counting.json").read_text(encoding="utf-8"))["examples"]
    rows = []
    for i, (split, ex) in enumerate(_split(examples, SIZES)):
        targets = [str(t) for t in ex["target"]]
        rows.append({"id": f"oc-{split[:3]}-{i:03d}", "split": split, "question": ex["input"],
                     "expected": targets, "regex": final_answer_regex(targets)})
    doc = _document(
        name="object_counting",
        header=HEADER.format(seed=SEED, source="BIG-bench object_counting", sizes="30 train / 30 validation / 100 test"),
        task=("Answer questions that list objects (possibly with quantities) by counting how many items of the "
              "asked kind there are. The response must end with a final line \"Answer: <number>\"; the number "
              "may be written in digits or in words."),
        system="Answer the question. End your response with a final line of the form 'Answer: $VALUE' "
               "where VALUE is a number.",
        task_max_tokens=256,
    )
    _add_examples(doc, rows)
    return tomlkit.dumps(doc)


def word_sorting(data: Path) -> str:
    examples = json.loads((data / "word_sorting.json").read_text(encoding="utf-8"))["examples"]
    rows = []
    for i, (split, ex) in enumerate(_split(examples, SIZES)):
        target = str(ex["target"])
        rows.append({"id": f"ws-{split[:3]}-{i:03d}", "split": split,
                     "question": f"Sort the following words alphabetically: List: {ex['input']}",
                     "expected": [target], "regex": final_answer_regex([target])})
    doc = _document(
        name="word_sorting",
        header=HEADER.format(seed=SEED, source="BIG-bench word_sorting", sizes="30 train / 30 validation / 100 test"),
        task=("Sort a list of words alphabetically. The response must end with a final line \"Answer: <the "
              "words in alphabetical order, separated by single spaces>\"."),
        system="Sort the words. End your response with a final line of the form 'Answer: $VALUE' where VALUE "
               "is the sorted words separated by single spaces.",
        task_max_tokens=256,
    )
    _add_examples(doc, rows)
    return tomlkit.dumps(doc)


def commonsense_math() -> str:
    source = tomlkit.parse(COMMONSENSE.read_text(encoding="utf-8"))
    rows = []
    for split, ex in _split(list(source["examples"]), SMALL_SIZES):
        regex = next(a["value"] for a in ex["assert"] if a.get("name") == "final answer")
        expected = ex["expected"]
        expected = [str(v) for v in expected] if isinstance(expected, list) else [str(expected)]
        rows.append({"id": str(ex["id"]), "split": split, "question": str(ex["vars"]["question"]),
                     "expected": expected, "regex": str(regex)})
    system = (f"{source['prompt']['system']} Think it through briefly, then give your final answer on the "
              "last line as \"Answer: <answer>\".")
    doc = _document(
        name="commonsense_math",
        header=HEADER.format(seed=SEED, source="prompts-spec/examples/commonsense-math.prompt.toml",
                             sizes="4 train / 2 validation / 4 test")
        + "\nEach example keeps the example file's own final-answer regex (equivalent forms accepted).",
        task=str(source["task"]).strip(),
        system=system,
        task_max_tokens=256,
    )
    _add_examples(doc, rows)
    return tomlkit.dumps(doc)


@dataclass(frozen=True)
class BbhTask:
    """One BIG-Bench Hard task: its vendored file's sha256, the answer kind, and its wording."""

    sha256: str
    kind: str  # "choice": targets "(A)".."(F)", options listed in the input; "yes_no": "yes"/"no"
    task: str
    system: str
    prefix: str  # example ids


BBH_TASKS = {
    "sports_understanding": BbhTask(
        sha256="63ca262858f6176864515cd8cf53cdaa40839ebecc155b726d77930855d167bf",
        kind="yes_no",
        task=("Decide whether a sentence about sports is plausible, i.e. whether the named athlete could "
              "have done the named action in their own sport. The response must end with a final line "
              "\"Answer: yes\" or \"Answer: no\"."),
        system="Is the sentence plausible? End your response with a final line of the form 'Answer: $VALUE' "
               "where VALUE is yes or no.",
        prefix="su",
    ),
    "logical_deduction_three_objects": BbhTask(
        sha256="e590fae72e3a6041fbd23bd8ff6b74baf44ca563f6ba40a041c55e7b867c1681",
        kind="choice",
        task=("Deduce the order of three objects from a few statements about them and pick the option "
              "that is true. The response must end with a final line \"Answer: (<letter>)\" naming the "
              "correct option."),
        system="Answer the question. End your response with a final line of the form 'Answer: $VALUE' "
               "where VALUE is the letter of the correct option.",
        prefix="ld",
    ),
    "date_understanding": BbhTask(
        sha256="0148d4ac5fca05b2f82373e5fef7208e15363b9c6079493034d77b3dab496bf5",
        kind="choice",
        task=("Work out a date from a few sentences about dates and pick the option with that date (MM/DD/YYYY). "
              "The response must end with a final line \"Answer: (<letter>)\" naming the correct option."),
        system="Answer the question. End your response with a final line of the form 'Answer: $VALUE' "
               "where VALUE is the letter of the correct option.",
        prefix="du",
    ),
    "disambiguation_qa": BbhTask(
        sha256="cf06df9ebf911b883671cb1b35d3fbd1a1c306b19b9e9a012407e596c85fe8c6",
        kind="choice",
        task=("Say which noun a pronoun in a sentence refers to, or that it is ambiguous, by picking one of the "
              "options. The response must end with a final line \"Answer: (<letter>)\" naming the correct option."),
        system="Answer the question. End your response with a final line of the form 'Answer: $VALUE' "
               "where VALUE is the letter of the correct option.",
        prefix="dq",
    ),
}
_OPTION = re.compile(r"^\(([A-Z])\)[ \t]+(.+?)[ \t]*$", re.MULTILINE)


def _words(text: str) -> str:
    """``text`` as a pattern: its words escaped, any run of spaces or tabs between them."""
    return r"[ \t]+".join(re.escape(w) for w in text.split())


def choice_answer_regex(letter: str, option: str) -> str:
    """The output ends with ``Answer: <letter>``: ``(B)``, ``B`` or ``B)``, optionally followed by
    the option's own text (``Answer: (B) 12/25/1937``); decoration as in ``final_answer_regex``."""
    text = rf"(?:(?:[ \t]*[:.][ \t]*|[ \t]+){_DECOR}{_words(option)})?"
    return (rf"(?i)\banswer\s*(?:\*\*)?:(?:\*\*)?[ \t]*{_DECOR}[ \t]*(?:\({letter}\)|{letter}\)?){text}"
            rf"[ \t]*{_DECOR}\.?{_DECOR}\s*\Z")


def checked_text(path: Path, sha256: str) -> str:
    """The text of a vendored data file, after checking it is the recorded one."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {sha256} (see bench/quality/data/README.md)")
    return raw.decode("utf-8")


def bbh_examples(path: Path, sha256: str) -> list[dict]:
    """The examples of a vendored BIG-Bench Hard file, after checking it is the recorded one."""
    return json.loads(checked_text(path, sha256))["examples"]


def bbh_task(name: str) -> str:
    spec = BBH_TASKS[name]
    rows = []
    for i, (split, ex) in enumerate(_split(bbh_examples(BBH_DATA / f"{name}.json", spec.sha256), SIZES)):
        question, target = str(ex["input"]), str(ex["target"]).strip()
        if spec.kind == "yes_no":
            assert target.lower() in ("yes", "no"), (name, target)
            regex = final_answer_regex([target.lower()])
        else:
            letter = re.fullmatch(r"\(([A-Z])\)", target)
            options = dict(_OPTION.findall(question.split("Options:", 1)[-1]))
            assert letter and letter.group(1) in options, (name, i, target)
            regex = choice_answer_regex(letter.group(1), options[letter.group(1)])
        rows.append({"id": f"{spec.prefix}-{split[:3]}-{i:03d}", "split": split, "question": question,
                     "expected": [target], "regex": regex})
    doc = _document(
        name=name,
        header=HEADER.format(seed=SEED, source=f"BIG-Bench Hard {name} (bench/quality/data/bbh/{name}.json)",
                             sizes="30 train / 30 validation / 100 test"),
        task=spec.task,
        system=spec.system,
        task_max_tokens=256,
    )
    _add_examples(doc, rows)
    return tomlkit.dumps(doc)


# -- label tasks: the whole reply is the label ---------------------------------------------------



@dataclass(frozen=True)
class LabelTask:
    """A classification task on data written for this bench (``data/<file>``, one JSON object a
    line with ``id`` and ``label``): its sha256, labels, question and wording. The first-draft
    system message names no answer format; ``task`` (what the optimizers read) states it."""

    file: str
    sha256: str
    labels: tuple[str, ...]
    fields: tuple[str, ...]  # the text fields: one alone is the question, else "Field: value" lines
    task: str
    system: str
    constraint: str
    prefix: str  # example ids


LABEL_TASKS = {
    "sentiment_reviews": LabelTask(
        file="reviews.jsonl",
        sha256="533223312ebe596721095104a272339fa028d2fd62caf7959c44a128680a3c7f",
        labels=("negative", "neutral", "positive"),
        fields=("review",),
        task=("Classify the sentiment of a customer's product review: positive, negative or neutral (neutral: the "
              "review only states facts, or is genuinely balanced between good and bad). Reply with exactly one "
              "lowercase word: positive, negative or neutral."),
        system="Read the customer review and say what its sentiment is.",
        constraint="The response must be only the label: one lowercase word (positive, negative or neutral), nothing else.",
        prefix="sr",
    ),
    "support_routing": LabelTask(
        file="tickets.jsonl",
        sha256="5477cacea27867a3f778fb67342999f2bf5d3f1f0ea23035b33b133fab921191",
        labels=("account", "billing", "shipping", "technical"),
        fields=("subject", "message"),
        task=("Route a customer-support ticket (its subject and message) to the team that should handle it: billing "
              "(charges, refunds, invoices, plans), shipping (deliveries, addresses, damaged parcels), account (login, "
              "security, account closure) or technical (bugs, crashes, errors). Reply with exactly one lowercase team "
              "name: billing, shipping, account or technical."),
        system="Which team should handle this support ticket: billing, shipping, account or technical?",
        constraint=("The response must be only the team name: one lowercase word (billing, shipping, account or "
                    "technical), nothing else."),
        prefix="rt",
    ),
}
LABEL_DATA = HERE / "data"


def label_only_regex(label: str) -> str:
    """The whole output is ``label``: any case, surrounding whitespace, optional markdown/quote
    decoration (as in ``final_answer_regex``) and a final period; nothing else."""
    return rf"(?i)\A\s*{_DECOR}\s*{_words(label)}\s*{_DECOR}\.?{_DECOR}\s*\Z"


def label_rows(name: str) -> list[dict]:
    """The rows of a label task's data file, after checking its sha256, its labels and that no
    text occurs twice."""
    spec = LABEL_TASKS[name]
    rows = [json.loads(line) for line in checked_text(LABEL_DATA / spec.file, spec.sha256).splitlines() if line.strip()]
    texts = [tuple(row[f] for f in spec.fields) for row in rows]
    assert len(set(texts)) == len(texts) and len({r["id"] for r in rows}) == len(rows), name
    assert {r["label"] for r in rows} == set(spec.labels), name
    return rows


def _stratified_split(rows: list[dict], sizes: dict[str, int]) -> list[tuple[str, dict]]:
    """``_split`` with the labels balanced in every split *and in every split's first N* (the
    bench takes the first ``--val-size`` / ``--test-size``): each label's rows in a seeded shuffle,
    dealt in rounds of one row per label (each round's label order shuffled too, same
    ``random.Random(SEED)``), the dealt sequence cut into the splits."""
    assert sum(sizes.values()) == len(rows), (sizes, len(rows))
    rng = random.Random(SEED)
    queues = []
    for label in sorted({r["label"] for r in rows}):
        queue = [r for r in rows if r["label"] == label]
        rng.shuffle(queue)
        queues.append(queue)
    dealt = []
    for i in range(max(map(len, queues))):
        turn = [queue[i] for queue in queues if i < len(queue)]
        rng.shuffle(turn)
        dealt += turn
    out, start = [], 0
    for split, size in sizes.items():
        out += [(split, row) for row in dealt[start:start + size]]
        start += size
    return out


def _question(spec: LabelTask, row: dict) -> str:
    if len(spec.fields) == 1:
        return str(row[spec.fields[0]])
    return "\n".join(f"{field.capitalize()}: {row[field]}" for field in spec.fields)


LABEL_HEADER = """\
Generated by bench/quality/make_tasks.py (seed {seed}) from bench/quality/data/{file} (written for this
bench). Do not edit by hand: change the script and rerun it. Used by bench/quality.py; splits 30 train /
30 validation / 100 test, stratified by label. Scored by exact match: the whole output must be the
label (see make_tasks.py); the system message is a first draft that does not say so."""


def label_task(name: str) -> str:
    spec = LABEL_TASKS[name]
    rows = []
    for i, (split, row) in enumerate(_stratified_split(label_rows(name), SIZES)):
        label = row["label"]
        rows.append({"id": f"{spec.prefix}-{split[:3]}-{i:03d}", "split": split, "question": _question(spec, row),
                     "expected": [label], "regex": label_only_regex(label)})
    doc = _document(name=name, header=LABEL_HEADER.format(seed=SEED, file=spec.file), task=spec.task,
                    system=spec.system, task_max_tokens=LABEL_MAX_TOKENS, constraint=spec.constraint)
    _add_examples(doc, rows, check=LABEL_CHECK)
    return tomlkit.dumps(doc)


def build(data: Path) -> dict[str, str]:
    return {
        "object_counting": object_counting(data),
        "word_sorting": word_sorting(data),
        "commonsense_math": commonsense_math(),
        **{name: bbh_task(name) for name in BBH_TASKS},
        **{name: label_task(name) for name in LABEL_TASKS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the BIG-bench task JSON files")
    parser.add_argument("--check", action="store_true", help="exit 1 if a written file differs from what it would write")
    args = parser.parse_args(argv)
    stale = []
    for name, text in build(args.data).items():
        path = OUT / f"{name}.prompt.toml"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print("stale: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
