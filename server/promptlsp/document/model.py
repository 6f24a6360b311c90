"""The typed prompt file: what evaluation and the optimizers consume.

Built only from a document without errors (see ``analysis.py``), with every default of
prompts-spec/SPEC.md applied here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping

from ..engine.spec import DEFAULT_MODEL, Budget, ModelSpec

Split = Literal["train", "validation", "test"]
DEFAULT_MAX_CALLS = 500  # a run's budget when [optimize.budget] sets none (the JSON Schema says so too)

# Assertion types that, without a `value`, compare the output with the example's `expected`.
COMPARES_WITH_EXPECTED = frozenset(
    {"equals", "contains", "icontains", "starts-with", "contains-any", "contains-all"}
)
ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "task": {"temperature": 0.0, "max_tokens": 512},
    "judge": {"temperature": 0.0, "max_tokens": 256},
    "optimizer": {"temperature": 0.7, "max_tokens": 1024},
}
# Keys a judge/optimizer without its own `model` inherits from the task model.
_INHERITED = ("model", "api_base", "api_key_env", "params", "json_schema")


def base_type(assertion_type: str) -> tuple[str, bool]:
    """``("contains", True)`` for ``not-contains``: the positive type and whether it is negated."""
    if assertion_type.startswith("not-"):
        return assertion_type[4:], True
    return assertion_type, False


def needs_expected(assertion: Mapping[str, Any]) -> bool:
    """Whether an assertion item compares with the example's ``expected`` (it has no value)."""
    kind, _ = base_type(str(assertion.get("type", "")))
    return kind in COMPARES_WITH_EXPECTED and "value" not in assertion


@dataclass(frozen=True)
class PromptText:
    """The strings an optimizer may rewrite."""

    template: str
    system: str | None = None

    @property
    def id(self) -> str:
        """A stable id: the same prompt text always gets the same id (dedupes candidates)."""
        raw = json.dumps([self.system, self.template], ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]

    def get(self, target: str) -> str | None:
        return self.template if target == "template" else self.system

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "template": self.template}


@dataclass(frozen=True)
class Criterion:
    """One scoring rule: a file-level criterion or a per-example assertion."""

    type: str
    name: str
    value: Any = None
    rubric: str | None = None
    threshold: float = 1.0
    weight: float = 1.0
    path: tuple = ()  # where it is defined in the prompt file (for editor ranges)

    @property
    def negated(self) -> bool:
        return base_type(self.type)[1]

    @property
    def kind(self) -> str:
        return base_type(self.type)[0]

    @property
    def uses_judge(self) -> bool:
        return self.type == "llm-rubric"


@dataclass(frozen=True)
class ExampleOrigin:
    """Where an example was written: an inline table, or a line of a dataset file."""

    path: tuple  # ("examples", i) or ("datasets", j)
    file: Path | None = None
    line: int | None = None

    def describe(self) -> str:
        if self.file is not None:
            return f"{self.file.name}:{self.line}"
        return f"examples[{self.path[1]}]"


@dataclass(frozen=True)
class Example:
    id: str
    vars: Mapping[str, Any]
    expected: tuple[str, ...] | None
    split: Split
    asserts: tuple[Criterion, ...] = ()
    origin: ExampleOrigin = field(default_factory=lambda: ExampleOrigin(()))


@dataclass(frozen=True)
class Models:
    task: ModelSpec
    judge: ModelSpec
    optimizer: ModelSpec


@dataclass(frozen=True)
class OptimizeSettings:
    method: Literal["gradsum", "tgd"] = "gradsum"
    iterations: int = 5
    beam_width: int = 3
    candidates: int = 3
    minibatch: int = 8
    seed: int = 0
    validation_fraction: float = 0.0
    constraints: tuple[str, ...] = ()
    gradient_memory: int = 0
    targets: tuple[str, ...] = ("template",)
    edits: Literal["operations", "rewrite"] = "operations"
    budget: Budget = field(default_factory=lambda: Budget(max_calls=DEFAULT_MAX_CALLS))


@dataclass(frozen=True)
class PromptFile:
    path: Path | None
    name: str
    task: str
    template: str
    system: str | None
    models: Models
    criteria: tuple[Criterion, ...]
    examples: tuple[Example, ...]
    optimize: OptimizeSettings

    def split(self, name: str) -> tuple[Example, ...]:
        """Examples of one split; ``"all"`` for every example."""
        if name == "all":
            return self.examples
        return tuple(e for e in self.examples if e.split == name)

    def with_prompt(self, *, template: str | None = None, system: str | None = None) -> "PromptFile":
        """The same file with a rewritten template and/or system message."""
        return replace(
            self,
            template=self.template if template is None else template,
            system=self.system if system is None else system,
        )


def _criterion(raw: Mapping[str, Any], path: tuple) -> Criterion:
    kind = str(raw["type"])
    default_threshold = 0.5 if kind == "llm-rubric" else 1.0
    return Criterion(
        type=kind,
        name=str(raw.get("name", kind)),
        value=raw.get("value"),
        rubric=raw.get("rubric"),
        threshold=float(raw.get("threshold", default_threshold)),
        weight=float(raw.get("weight", 1.0)),
        path=path,
    )


def _whole(value: Any) -> Any:
    """TOML ``2.0`` where an integer is expected (the schema accepts it) becomes ``2``."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_INTEGER_SETTINGS = ("iterations", "beam_width", "candidates", "minibatch", "seed", "gradient_memory",
                     "max_calls", "max_tokens", "concurrency")


def build_models(raw: Mapping[str, Any], seed: int) -> Models:
    task_raw = dict(raw.get("task", {}))
    specs = {}
    for role in ("task", "judge", "optimizer"):
        settings = {"model": DEFAULT_MODEL, "seed": seed, **ROLE_DEFAULTS[role]}
        own = {k: _whole(v) if k in _INTEGER_SETTINGS else v for k, v in raw.get(role, {}).items()}
        if role != "task" and "model" not in own:
            settings.update({k: task_raw[k] for k in _INHERITED if k in task_raw})
        settings.update(own)
        settings["params"] = dict(settings.get("params", {}))
        specs[role] = ModelSpec(**settings)
    return Models(**specs)


def _expected(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def build_example(raw: Mapping[str, Any], index: int, origin: ExampleOrigin, default_split: str | None) -> tuple[Example, bool]:
    """The example and whether its split was explicit."""
    asserts = tuple(
        _criterion(a, origin.path + ("assert", i)) for i, a in enumerate(raw.get("assert", ()))
    )
    split = raw.get("split", default_split)
    example = Example(
        id=str(raw.get("id", origin.describe() if origin.file else f"#{index + 1}")),
        vars=dict(raw.get("vars", {})),
        expected=_expected(raw.get("expected")),
        split=split or "train",
        asserts=asserts,
        origin=origin,
    )
    return example, split is not None


def assign_splits(examples: list[tuple[Example, bool]], fraction: float, seed: int) -> tuple[Example, ...]:
    """Move ``fraction`` of the examples without an explicit split to validation, seeded."""
    free = [i for i, (_, explicit) in enumerate(examples) if not explicit]
    chosen: set[int] = set()
    if fraction > 0 and free:
        count = round(len(free) * fraction)
        chosen = set(random.Random(seed).sample(free, count))
    return tuple(replace(e, split="validation") if i in chosen else e for i, (e, _) in enumerate(examples))


def default_name(path: Path | None) -> str:
    """``sentiment`` for ``sentiment.prompt.toml`` (``Path.stem`` would keep ``.prompt``)."""
    if path is None:
        return "prompt"
    name = path.name
    for suffix in (".prompt.toml", ".toml"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def build(data: Mapping[str, Any], path: Path | None, examples: list[tuple[Example, bool]]) -> PromptFile:
    """The typed file from validated plain data and the already-built examples."""
    opt_raw = {k: _whole(v) if k in _INTEGER_SETTINGS else v for k, v in data.get("optimize", {}).items()}
    budget_raw = {k: _whole(v) if k in _INTEGER_SETTINGS else v for k, v in opt_raw.pop("budget", {}).items()}
    seed = int(opt_raw.get("seed", 0))
    budget = Budget(
        max_calls=budget_raw.get("max_calls", DEFAULT_MAX_CALLS),
        max_tokens=budget_raw.get("max_tokens"),
        max_usd=budget_raw.get("max_usd"),
    )
    settings = OptimizeSettings(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in opt_raw.items()},
        budget=budget,
    )
    prompt = data["prompt"]
    return PromptFile(
        path=path,
        name=str(data.get("name") or default_name(path)),
        task=str(data["task"]),
        template=str(prompt["template"]),
        system=prompt.get("system"),
        models=build_models(data.get("models", {}), seed),
        criteria=tuple(_criterion(c, ("criteria", i)) for i, c in enumerate(data.get("criteria", ()))),
        examples=assign_splits(examples, settings.validation_fraction, seed),
        optimize=settings,
    )
