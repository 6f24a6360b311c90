"""How promptlsp sets litellm up: what it keeps, what it turns off, and why.

promptlsp prices every call itself (``pricing.py``, ``accounting.py``), registers no litellm
callbacks and reads nothing of litellm's logging payloads. Yet on every call litellm (1.106)
still spends most of its CPU on exactly that work (cProfile against the loopback stub, see
``bench/engine.py --profile``):

* **redaction copies** — ``turn_off_message_logging=True`` makes litellm copy and redact the
  request for its logs, twice a call (after the response and in the success handler). With no
  callback there is no log to protect, so the setting is off: nothing is copied.
* **cost calculation** — ``update_response_metadata`` prices each response (model-map look-ups,
  ``completion_cost``) for ``_hidden_params["response_cost"]``, which promptlsp never reads.
* **success logging** — a task per call builds the ``StandardLoggingPayload`` (its own cost
  calculation and redaction included) for callbacks that do not exist; with a Router, a thread
  per call runs the sync success handler as well.

litellm has no setting for the last two (its flags — ``no-log``, ``disable_streaming_logging``,
``turn_off_message_logging`` — skip callbacks or redact, but still build the payload), so
:func:`apply` wraps the three ``Logging`` methods that do the work: while nothing listens, they
return at once. "Listens" means any callback in litellm's global lists or the request's own
(``callbacks=`` / ``success_callback=``), except the deployment counters every ``Router`` adds
— promptlsp's Routers use neither cooldowns nor usage-based routing, the only readers of those
counts. A program that adds a callback in the same process gets litellm's full behaviour back.

Failures keep litellm's failure handling as is (rare, and the Router's failure callbacks live
there). Streaming is not used by promptlsp.

One setting of litellm's own changes its path: ``EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER``
(an environment variable litellm reads on each call) sends OpenAI and OpenAI-compatible chat
calls — the embedded model's server, an ``api_base``, OpenAI itself — through litellm's HTTP
handler and its OpenAI request/response transformation instead of through the openai SDK, whose
request building walks the typing annotations of every parameter: about a quarter of the CPU
a call costs (``bench/engine.py``: 4.8–6.1 → 3.4–3.7 ms per call at 16 at once, on a host
where a 10^7-add Python loop takes 1.8 s). Requests, answers, errors (types, status codes,
``Retry-After``) and cancellation are the same through both paths (the engine's stub tests run
on it); :func:`apply` turns it on unless the environment already says otherwise.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from typing import Any, Callable

log = logging.getLogger("promptlsp.engine.litellm")
OPENAI_WITHOUT_SDK = "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"

_SKIPPED = "_promptlsp_skipped_when_unheard"  # marks a wrapped method (apply is idempotent)
# (Logging method, what it returns when skipped)
_UNHEARD_WORK: tuple[tuple[str, Any], ...] = (
    ("response_cost_calculator", None),  # None = "unknown cost" to litellm; promptlsp prices calls
    ("async_success_handler", None),
    ("handle_sync_success_callbacks_for_async_calls", None),
)


def apply(litellm: Any) -> None:
    """Configure the imported ``litellm`` module for promptlsp (idempotent)."""
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    # True would make litellm copy and redact every request for logs no one writes.
    litellm.turn_off_message_logging = False
    os.environ.setdefault(OPENAI_WITHOUT_SDK, "true")  # a user's own "false" keeps the openai SDK
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError as exc:  # another litellm layout: only slower
        log.debug("litellm's Logging class not found, per-call logging work stays on: %s", exc)
        return
    router = getattr(litellm, "Router", None)
    for name, skipped in _UNHEARD_WORK:
        method = getattr(Logging, name, None)
        if method is None:
            log.debug("litellm's Logging.%s not found, it stays on", name)
        elif not getattr(method, _SKIPPED, False):
            setattr(Logging, name, _unless_heard(litellm, router, method, skipped))


def _unless_heard(litellm: Any, router: Any, method: Callable, skipped: Any) -> Callable:
    """``method`` when someone listens to litellm's logging, else a no-op returning ``skipped``."""
    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def wrapper_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not listened(litellm, router, self):
                return skipped
            return await method(self, *args, **kwargs)

        wrapper: Callable = wrapper_async
    else:
        @functools.wraps(method)
        def wrapper_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not listened(litellm, router, self):
                return skipped
            return method(self, *args, **kwargs)

        wrapper = wrapper_sync
    setattr(wrapper, _SKIPPED, True)
    return wrapper


def listened(litellm: Any, router: Any, logging_obj: Any) -> bool:
    """Whether any success callback but a Router's own deployment counters would get this
    call's logging payload (global lists, or the request's dynamic callbacks)."""
    lists = (
        litellm.callbacks, litellm.success_callback, litellm._async_success_callback,
        getattr(logging_obj, "dynamic_success_callbacks", None) or (),
        getattr(logging_obj, "dynamic_async_success_callbacks", None) or (),
    )
    for callbacks in lists:
        for callback in callbacks:
            owner = getattr(callback, "__self__", None)
            if router is None or not isinstance(owner, router):
                return True
    return False
