"""Regular-expression searches with a time limit, for checks and for JSON Schema patterns.

Python's ``re`` has no timeout and holds the GIL for a whole search, so a catastrophic pattern
such as ``(a+)+$`` against a few dozen characters stalls the process: not even running it in a
thread keeps an event loop alive. The ``regex`` module (already installed and locked: tiktoken,
which litellm needs, depends on it) takes a ``timeout`` and, with ``concurrent=True``, releases
the GIL while it searches. Patterns still compile with ``re`` first wherever the SPEC says
"Python ``re``", so what is valid and the error messages stay ``re``'s; the search then runs on
``regex`` in its ``re``-compatible VERSION0 mode. (The one known difference: ``regex`` reads a
POSIX class such as ``[[:alpha:]]``, which ``re`` parses as a set and warns about.)

A worker process with ``re`` would keep ``re``'s exact semantics, but costs a process pool that
has to be killed and restarted on every timeout; a static test for nested quantifiers misses
patterns (``(a|aa)+$``, ``(\\w+\\s?)+$``) and rejects harmless ones.
"""

from __future__ import annotations

import functools
from typing import Any

import regex
from jsonschema import ValidationError, validators
from jsonschema._utils import extras_msg

REGEX_SECONDS = 1.0  # per search


class RegexTimeout(Exception):
    """A search took longer than ``REGEX_SECONDS``; the message says which, on what."""


class RegexUnusable(Exception):
    """``re`` accepts the pattern but the timed engine cannot compile it."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern, regex.VERSION0)


def search(pattern: str, text: str, what: str = "") -> Any:
    """``re.search(pattern, text)`` (a match or None) that gives up after ``REGEX_SECONDS``.

    ``what`` names the pattern in the :class:`RegexTimeout` message (default: the pattern)."""
    try:
        compiled = _compiled(pattern)
    except (regex.error, RecursionError, OverflowError, ValueError) as exc:
        raise RegexUnusable(str(exc) or type(exc).__name__) from None
    try:
        return compiled.search(text, timeout=REGEX_SECONDS, concurrent=True)
    except TimeoutError:
        name = what or f"regex {pattern[:60]!r}"
        raise RegexTimeout(f"{name} timed out after {REGEX_SECONDS:g} s on {len(text)} characters") from None


# --- JSON Schema keywords that run a regex, on the timed engine ------------------------------
# Same behaviour and messages as jsonschema's own (_keywords.py), with `re.search` replaced.


def _pattern(validator, patrn, instance, schema):
    if validator.is_type(instance, "string") and not search(patrn, instance, f"schema pattern {patrn[:60]!r}"):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator, pattern_properties, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in pattern_properties.items():
        for key, value in instance.items():
            if search(patrn, key, f"schema patternProperties {patrn[:60]!r}"):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def _additional_properties(validator, additional, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = "|".join(schema.get("patternProperties", {}))
    extras = {
        key for key in instance
        if key not in properties and not (patterns and search(patterns, key, "schema patternProperties"))
    }
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            listed = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {listed}")
        else:
            error = "Additional properties are not allowed (%s %s unexpected)"
            yield ValidationError(error % extras_msg(sorted(extras, key=str)))


_KEYWORDS = {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties}


@functools.lru_cache(maxsize=None)
def timed_validator_class(cls: type) -> type:
    """``cls`` (a jsonschema validator class) with its regex keywords on the timed engine."""
    own = {name: fn for name, fn in _KEYWORDS.items() if name in cls.VALIDATORS}
    from jsonschema import validators

    return validators.extend(cls, own)
