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

Compiling has a cost of its own on ``regex``: it writes out the minimum count of every repeat, so
nested counts multiply (``(((a{50}){50}){50}){50}`` takes 3 s and 2 GB to compile, one more level
runs out of memory; ``re`` compiles both at once). Before ``regex`` sees a pattern, its ``re``
parse tree is measured (:func:`unrolled_size`) and a pattern over ``MAX_UNROLLED`` elements is
refused as too complex; only small compiled patterns are kept in the cache.
"""

from __future__ import annotations

import functools
import re
from re import _constants as sre, _parser as sre_parse  # re's own parser: what re accepts
from typing import Any

import regex
from jsonschema import ValidationError, validators
from jsonschema._utils import extras_msg

REGEX_SECONDS = 1.0  # per search
MAX_PATTERN_CHARS = 100_000
# Elements `regex` builds once every repeat's minimum count is written out. 100 000 compile in
# ~25 ms and ~30 MB (bench: a{100000}); the 2 GB case above is 6 250 000.
MAX_UNROLLED = 100_000
CACHED_UNROLLED = 2_000  # larger compiled patterns are not cached (256 × ~0.5 MB at most)


class RegexTimeout(Exception):
    """A search took longer than ``REGEX_SECONDS``; the message says which, on what."""


class RegexUnusable(Exception):
    """The timed engine cannot compile the pattern (``re`` rejects it, or ``regex`` does)."""


class RegexTooComplex(RegexUnusable):
    """The pattern is too long, or its nested repeat counts multiply past ``MAX_UNROLLED``."""


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


def _size(items: Any) -> int:
    """Elements of a parsed (sub)pattern, each repeat's body counted ``max(min count, 1)`` times."""
    total = 0
    for op, av in items:
        if op in _REPEATS:
            low, _high, body = av
            total += 1 + max(low, 1) * _size(body)
        elif op is sre.SUBPATTERN:
            total += 1 + _size(av[3])
        elif op is sre.BRANCH:
            total += 1 + sum(_size(branch) for branch in av[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += 1 + _size(av[1])
        elif op is sre.ATOMIC_GROUP:
            total += 1 + _size(av)
        elif op is sre.GROUPREF_EXISTS:
            total += 1 + _size(av[1]) + (_size(av[2]) if av[2] is not None else 0)
        else:  # a literal, a set, an anchor, a back reference
            total += 1
    return total


@functools.lru_cache(maxsize=256)
def unrolled_size(pattern: str) -> int:
    """How many elements ``regex`` builds for ``pattern`` (an upper estimate): raises
    :class:`RegexUnusable` with ``re``'s message when ``re`` rejects the pattern."""
    try:
        return _size(sre_parse.parse(pattern))
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise RegexUnusable(str(exc) or type(exc).__name__) from None


@functools.lru_cache(maxsize=256)
def _cached(pattern: str) -> Any:
    return regex.compile(pattern, regex.VERSION0)


def _compiled(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexTooComplex(f"it is {len(pattern)} characters long (at most {MAX_PATTERN_CHARS})")
    size = unrolled_size(pattern)
    if size > MAX_UNROLLED:
        raise RegexTooComplex(f"its nested repeat counts multiply to {size} elements (at most {MAX_UNROLLED})")
    if size <= CACHED_UNROLLED:
        return _cached(pattern)
    return regex.compile(pattern, regex.VERSION0)


def search(pattern: str, text: str, what: str = "") -> Any:
    """``re.search(pattern, text)`` (a match or None) that gives up after ``REGEX_SECONDS``.

    ``what`` names the pattern in the :class:`RegexTimeout` and :class:`RegexTooComplex` messages
    (default: the pattern)."""
    name = what or f"regex {pattern[:60]!r}"
    try:
        compiled = _compiled(pattern)
    except RegexTooComplex as exc:
        raise RegexTooComplex(f"{name} is too complex: {exc}") from None
    except (regex.error, RecursionError, OverflowError, ValueError) as exc:
        raise RegexUnusable(str(exc) or type(exc).__name__) from None
    try:
        return compiled.search(text, timeout=REGEX_SECONDS, concurrent=True)
    except TimeoutError:
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
