"""One run's view of the engine: budget, accounting, cache policy — and ``complete``.

``complete`` raises only :class:`~.errors.BudgetExhausted` (stop the run cleanly) and
``asyncio.CancelledError``; everything else comes back as a failed :class:`CallResult`.

Cache policy: ``use_cache=True`` reads and writes; ``use_cache=False`` never reads but still
writes, so a forced-fresh run refreshes the cache and a later cached rerun reproduces it.

Nothing before the first real call: the cache is read before the backend's ``prepare`` (which
imports litellm — seconds — or starts the embedded local model — seconds and ~650 MB), so a run
whose answers are all cached never pays for either; ``prepare`` runs, once per request, when an
answer is missing.

Cancellation: ``task.cancel()`` propagates into the backend's await (litellm closes the HTTP
connection), budget reservations of the cancelled call stay counted, the concurrency slot is
released, and no retry is started.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from . import pricing, structured
from .accounting import Accounting, Usage
from .backend import BackendCaps, finish_reason, response_text, response_usage
from .cache import CachedResponse, cache_key
from .errors import BackendError, PermanentError, TransientError
from .estimate import completion_allowance, count_tokens
from .messages import normalize_messages
from .results import CallFailure, CallResult
from .secrets import key_env_names, scrub
from .spec import Budget, ModelSpec, to_plain

if TYPE_CHECKING:
    from .core import Engine

log = logging.getLogger("promptlsp.engine.session")


@dataclass
class _Outcome:
    """One request (after retries): its text or failure."""

    text: str | None = None
    usage: Usage = Usage()
    cost: float | None = 0.0
    cached: bool = False
    attempts: int = 0
    failure: CallFailure | None = None

    @classmethod
    def from_cache(cls, hit: CachedResponse) -> "_Outcome":
        return cls(hit.text, Usage(hit.prompt_tokens, hit.completion_tokens), hit.cost_usd, cached=True)


def _cut_off(outcome: _Outcome, spec: ModelSpec) -> bool:
    """Whether the answer used the whole completion allowance (so it was probably cut off)."""
    return spec.cut_off(outcome.usage.completion_tokens)


def _repair_error(error: str, cut_off: bool, spec: ModelSpec) -> str:
    """What the repair round tells the model: a cut-off answer needs to be shorter, not fixed."""
    if not cut_off:
        return error
    return (f"the answer was cut off at max_tokens={spec.max_tokens} before the JSON was complete "
            f"({error}); give a much shorter answer")


def _unusable(error: str, first_cut_off: bool, last_cut_off: bool, spec: ModelSpec) -> str:
    """Why a structured call failed after its repair round, for a person (not the model)."""
    if last_cut_off:
        return f"answer cut off at max_tokens={spec.max_tokens} " + ("twice" if first_cut_off else "on the repair round")
    return f"no usable answer after one repair round: {error}"


def _timed_out(phase: str, spec: ModelSpec, attempts: int) -> str:
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    return f"{phase} call to {spec.model} timed out after {spec.timeout:g} s{tries}"


def _mode(schema: dict | None, json_schema: bool) -> str | None:
    """How a structured answer is asked for: enforced by the provider, or by instruction alone."""
    if schema is None:
        return None
    return "json_schema" if json_schema else "instruct"


def _candidate_modes(schema: dict | None, spec: ModelSpec) -> tuple[str | None, ...]:
    """The modes a request of ``spec`` may use, known without asking the backend."""
    if schema is None:
        return (None,)
    if spec.json_schema is not None:
        return (_mode(schema, spec.json_schema),)
    return ("json_schema", "instruct")


class _Prepared:
    """The backend's ``prepare`` for one request: awaited only when an answer is not cached
    (it may import litellm or start the embedded model), at most once; a failure is kept."""

    def __init__(self, session: "Session", spec: ModelSpec) -> None:
        self._session = session
        self._spec = spec
        self._caps: BackendCaps | CallFailure | None = None

    async def caps(self) -> BackendCaps | CallFailure:
        if self._caps is None:
            try:
                self._caps = await self._session.engine.backend.prepare(self._spec)
            except Exception as exc:
                error = self._session._backend_error(exc, self._spec)
                self._caps = CallFailure(error.kind, error.message, 0)
        return self._caps


class Session:
    def __init__(self, engine: "Engine", budget: Budget | None = None, use_cache: bool = True) -> None:
        self.engine = engine
        self.use_cache = use_cache
        self.accounting = Accounting(budget)
        self._warned_unpriced: set[str] = set()

    @property
    def budget_exhausted(self) -> str | None:
        """The budget limit that stopped this run, if any."""
        return self.accounting.exhausted

    async def complete(
        self,
        spec: ModelSpec,
        messages: str | Iterable[dict[str, Any]],
        *,
        schema: dict | None = None,
        schema_name: str = "answer",
        phase: str = "task",
        sample: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> CallResult:
        """Ask ``spec``'s model; with ``schema``, a validated JSON answer in ``result.data``.

        ``sample`` numbers independent samples of the same request: it is part of the cache
        key, and with a spec seed the request uses ``seed + sample`` — so an optimizer asking
        three times for candidates gets three answers, reproducibly. ``metadata`` is passed to
        the backend (scripted backends route on it) and never sent to the provider.
        """
        started = time.monotonic()
        msgs = normalize_messages(messages)
        problem = structured.schema_error(schema) if schema is not None else None
        if problem is not None:
            return self._result(spec, phase, [_Outcome(failure=CallFailure("bad_request", problem, 0))], started)
        if schema is not None:
            msgs = structured.with_instruction(msgs, schema, schema_name)
        prepared = _Prepared(self, spec)
        seed = None if spec.seed is None else spec.seed + sample
        mode, first, misses = await self._cached(spec, msgs, seed, schema, sample, phase)
        if first is None:
            caps = await prepared.caps()
            if isinstance(caps, CallFailure):
                return self._result(spec, phase, [_Outcome(failure=caps)], started)
            mode = _mode(schema, caps.json_schema)
        call = functools.partial(
            self._call, spec, schema=schema, schema_name=schema_name, mode=mode, phase=phase,
            sample=sample, metadata=metadata or {}, prepared=prepared,
        )
        outcomes = [first if first is not None else await call(msgs, repair=False, looked_up=mode in misses)]
        data = None
        if outcomes[0].failure is None and schema is not None:
            data, error = structured.parse_answer(outcomes[0].text, schema, schema_name)
            if error is not None:
                first_cut = _cut_off(outcomes[0], spec)
                log.info("%s answer unusable (%s): one repair round", spec.model, scrub(error, self._secret_names(spec)))
                repair = structured.repair_messages(msgs, outcomes[0].text or "", _repair_error(error, first_cut, spec))
                outcomes.append(await call(repair, repair=True))
                if outcomes[-1].failure is None:
                    data, error = structured.parse_answer(outcomes[-1].text, schema, schema_name)
                    if error is not None:
                        attempts = sum(o.attempts for o in outcomes)
                        why = _unusable(error, first_cut, _cut_off(outcomes[-1], spec), spec)
                        outcomes[-1].failure = CallFailure("parse", scrub(why, self._secret_names(spec)), attempts)
        return self._result(spec, phase, outcomes, started, data)

    # -- internals -----------------------------------------------------------------------------
    def _result(
        self, spec: ModelSpec, phase: str, outcomes: list[_Outcome], started: float, data: Any = None
    ) -> CallResult:
        last = outcomes[-1]
        if last.failure is not None:
            self.accounting.failure(phase)
            log.warning("%s call failed: %s: %s", spec.model, last.failure.kind, last.failure.message)
        costs = [o.cost for o in outcomes if o.failure is None or o.text is not None]
        return CallResult(
            ok=last.failure is None,
            text=last.text,
            data=data if last.failure is None else None,
            failure=last.failure,
            usage=sum((o.usage for o in outcomes), Usage()),
            cost_usd=None if any(c is None for c in costs) else float(sum(c or 0.0 for c in costs)),
            cached=all(o.cached for o in outcomes),
            latency_s=time.monotonic() - started,
            attempts=sum(o.attempts for o in outcomes),
            repaired=len(outcomes) > 1,
            model=spec.model,
        )

    @staticmethod
    def _secret_names(spec: ModelSpec) -> list[str]:
        return key_env_names(spec.api_key_env, spec.deployments)

    def _backend_error(self, exc: BaseException, spec: ModelSpec) -> BackendError:
        """Any backend exception as a typed error with a scrubbed message."""
        names = self._secret_names(spec)
        if isinstance(exc, BackendError):
            exc.message = scrub(exc.message, names)
            return exc
        if isinstance(exc, TimeoutError):
            return TransientError("timeout", f"no answer within {spec.timeout:g} s")
        return PermanentError("other", scrub(f"{type(exc).__name__}: {exc}", names)[:500])

    def _reservation(self, spec: ModelSpec, messages: list[dict]) -> tuple[int, float]:
        """Tokens and USD to hold for one call: prompt + completion cap. Counted only when the
        budget caps them (litellm's token counter costs about a millisecond a call)."""
        budget = self.accounting.budget
        if budget is None or (budget.max_tokens is None and budget.max_usd is None):
            return 0, 0.0
        prompt, completion = count_tokens(spec, messages), completion_allowance(spec)
        usd = pricing.cost_usd(spec.model, prompt, completion)
        if usd is None and budget.max_usd is not None:
            self._unpriced(spec.model, budget)
        return prompt + completion, usd or 0.0

    def _unpriced(self, model: str, budget: Budget) -> None:
        """A call to a model without a known price under a USD limit: refused when that limit is
        the only one (nothing else would stop the run), else let through with one warning."""
        why = f"max_usd = {budget.max_usd:g} cannot be enforced: litellm has no price for {model}"
        if budget.max_calls is None and budget.max_tokens is None:
            raise self.accounting.refuse("max_usd", why)
        if model not in self._warned_unpriced:
            self._warned_unpriced.add(model)
            log.warning("%s; the other budget limits still apply", why)

    def _request(self, spec: ModelSpec, messages: list[dict], seed: int | None, schema: dict | None,
                 schema_name: str, mode: str | None, phase: str, sample: int, repair: bool,
                 metadata: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": spec.model,
            "messages": messages,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "seed": seed,
            "max_tokens": spec.max_tokens,
            "timeout": spec.timeout,
            "api_base": spec.api_base,
            "api_key_env": spec.api_key_env,
            "params": to_plain(spec.params),
            "deployments": [to_plain(d) for d in spec.deployments],
            "response_format": structured.response_format(schema, schema_name) if mode == "json_schema" else None,
            "metadata": {
                **metadata, "phase": phase, "schema_name": schema_name if schema else None, "schema": schema,
                "mode": mode, "repair": repair, "attempt": 0, "sample": sample,
            },
        }

    @staticmethod
    def _key(spec: ModelSpec, messages: list[dict], seed: int | None, schema: dict | None, mode: str | None,
             sample: int) -> str:
        return cache_key(
            model=spec.model, messages=messages, temperature=spec.temperature, top_p=spec.top_p, seed=seed,
            max_tokens=spec.max_tokens, params=to_plain(spec.params), schema=schema, mode=mode, sample=sample,
        )

    async def _cached(self, spec: ModelSpec, messages: list[dict], seed: int | None, schema: dict | None,
                      sample: int, phase: str) -> tuple[str | None, _Outcome | None, set[str | None]]:
        """The cached answer of a first request, looked up before the backend is prepared: a
        fully cached run never imports litellm nor starts a local model. Without a schema, or
        when the spec says whether the provider enforces schemas, there is one key; otherwise
        one per mode, and an answer is taken when exactly one of them is cached (both cached:
        only the backend knows which mode this model uses). Returns (mode, outcome, the modes
        whose keys are known to be missing)."""
        modes = _candidate_modes(schema, spec)
        cache = self.engine.cache
        if cache is None or not self.use_cache:
            return None, None, set(modes)
        keys = {mode: self._key(spec, messages, seed, schema, mode, sample) for mode in modes}
        found = await cache.aget_many(list(keys.values()))
        hits = [mode for mode, key in keys.items() if key in found]
        if len(hits) != 1:
            return None, None, {mode for mode in modes if mode not in hits}
        self.accounting.cache_hit(phase)
        return hits[0], _Outcome.from_cache(found[keys[hits[0]]]), set()

    async def _call(self, spec: ModelSpec, messages: list[dict], *, schema: dict | None, schema_name: str,
                    mode: str | None, phase: str, sample: int, repair: bool, metadata: dict[str, Any],
                    prepared: _Prepared, looked_up: bool = False) -> _Outcome:
        """One request: from the cache (unless ``looked_up`` already found it missing), or from
        the backend — prepared now, if not yet — with retries under the budget."""
        engine = self.engine
        seed = None if spec.seed is None else spec.seed + sample
        key = self._key(spec, messages, seed, schema, mode, sample)
        if engine.cache is not None and self.use_cache and not looked_up:
            hit = await engine.cache.aget(key)
            if hit is not None:
                self.accounting.cache_hit(phase)
                return _Outcome.from_cache(hit)
        caps = await prepared.caps()
        if isinstance(caps, CallFailure):
            return _Outcome(failure=caps)
        request = self._request(spec, messages, seed, schema, schema_name, mode, phase, sample, repair, metadata)
        reserve = self._reservation(spec, messages)
        limiter = engine.limiter(spec, caps.max_concurrency)
        attempt = 0
        while True:
            attempt += 1
            request["metadata"]["attempt"] = attempt
            async with limiter:
                outcome = await self._attempt(spec, request, phase, reserve, retry=attempt > 1)
            if not isinstance(outcome, BackendError):
                limiter.answered()
                outcome.attempts = attempt
                if engine.cache is not None:  # outside the concurrency slot: disk is not the model
                    await engine.cache.aput(key, CachedResponse(
                        spec.model, outcome.text or "", outcome.usage.prompt_tokens,
                        outcome.usage.completion_tokens, outcome.cost))
                return outcome
            error = outcome
            if error.kind == "rate_limit":
                limiter.rate_limited()
            elif error.transient:
                limiter.strained()
            delay = engine.retry.delay(attempt, error.retry_after) if error.transient else None
            if delay is None:
                message = error.message
                if error.kind == "timeout" and error.status is None:  # ours or the HTTP client's, not a 408
                    message = _timed_out(phase, spec, attempt)
                return _Outcome(attempts=attempt, failure=CallFailure(error.kind, message, attempt, error.status))
            if error.kind == "rate_limit" and error.retry_after:
                limiter.pause(delay)
            log.info("%s %s (attempt %d): retrying in %.2fs: %s", spec.model, error.kind, attempt, delay, error.message)
            await asyncio.sleep(delay)

    async def _attempt(self, spec: ModelSpec, request: dict[str, Any], phase: str, reserve: tuple[int, float],
                       *, retry: bool) -> _Outcome | BackendError:
        """One provider request under the budget: its answer, or the error to retry or report."""
        reservation = self.accounting.reserve(phase, *reserve, retry=retry)
        started = time.monotonic()
        try:
            with self.accounting.in_flight(phase):
                response = await asyncio.wait_for(self.engine.backend.complete(request), spec.timeout)
        except Exception as exc:  # CancelledError is a BaseException: it propagates
            self.accounting.settle(reservation, None, None, time.monotonic() - started)
            return self._backend_error(exc, spec)
        except BaseException:
            self.accounting.settle(reservation, None, None, time.monotonic() - started)
            raise
        text = response_text(response)
        usage = response_usage(response) or Usage(count_tokens(spec, request["messages"]), count_tokens(spec, text or ""))
        cost = response["cost_usd"] if "cost_usd" in response else pricing.cost_usd(
            spec.model, usage.prompt_tokens, usage.completion_tokens)
        self.accounting.settle(reservation, usage, cost, time.monotonic() - started)
        if text is None:
            return PermanentError("other", f"the model returned no text (finish_reason={finish_reason(response)})")
        return _Outcome(text, usage, cost)
