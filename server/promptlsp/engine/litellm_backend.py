"""The real backend: ``litellm.acompletion`` (or a ``litellm.Router`` for several deployments).

Why our own retry loop (in the session) around ``acompletion(num_retries=0, max_retries=0)``
rather than litellm's ``num_retries`` or the Router's retries: those retry *inside* one await,
so the engine could neither reserve budget before each attempt nor count attempts, could not
share a ``Retry-After`` pause with the other calls to the same model, and could not bound the
total wait. The openai SDK's own retries are turned off by ``max_retries=0`` for the same
reason. The Router is still used, with retries and cooldowns off, for what it is good at:
choosing among deployments (keys, regions, a local server) of one model name; a retry of ours
may land on another deployment. Cancellation needs nothing special: cancelling the awaiting
task cancels litellm's HTTP request and closes its connection (tested against the stub).

Requests go out with ``drop_params=True`` (``params`` may override it): the format sends a
``seed`` by default, and a provider without seeds should ignore it, not fail every call.
litellm does none of its per-call work that promptlsp does not use — cost calculation (the
engine prices calls itself), logging payloads, redaction copies: see :mod:`.litellm_settings`.

litellm is imported lazily, once per process, on a thread of its own (:func:`litellm_loading`:
the import takes seconds and must neither stall a language server's event loop nor occupy the
workers of an executor that other work — the server's analyses — would queue behind), with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so it never fetches
its cost map, and with its loggers re-routed: litellm's own handler writes INFO records to
stdout, where the language server speaks JSON-RPC. Every caller awaits that one import. The
same thread also imports what litellm would otherwise import during its first request (the
openai SDK's resources: about a second, more under load) and loads its tokenizer (then hands
``token_counter`` to :mod:`.estimate`), and ``prepare`` sends each endpoint set one ``mock_response`` request (no
network), which builds its Router and imports its provider's modules: the per-call timeout then
times the request alone, and no import blocks the event loop mid-run. Concurrent first calls all
wait for that one warm-up (one task per endpoint set); a warm-up that fails lets its waiters
proceed and the next ``prepare`` try again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import os
import re
import threading
from typing import Any

from . import litellm_settings, pricing
from .backend import BackendCaps
from .cache import canonical_json
from .errors import BackendError, PermanentError, backend_error
from .estimate import use_litellm_counter
from .retry import parse_retry_after
from .secrets import ENV_REF, key_env_names, register_secret, scrub
from .spec import LOCAL_PREFIX, ModelSpec, to_plain
from .structured import embedded_values

log = logging.getLogger("promptlsp.engine.litellm")
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_MAX_MESSAGE = 500
# Request parameters that ``params`` may not override: they carry the engine's guarantees.
_RESERVED = frozenset({"model", "messages", "timeout", "num_retries", "max_retries", "stream"})
_loading_lock = threading.Lock()
_loading: concurrent.futures.Future | None = None  # the process's one import of litellm
# What litellm imports lazily during its first request (found by diffing sys.modules around a
# first call; ~1 s on an idle 2-core machine). A name a future litellm no longer has is skipped.
_FIRST_CALL_MODULES = (
    "openai.resources", "litellm._service_logger", "litellm.proxy._types", "litellm.llms.litellm_proxy", "jiter",
)
# The openai SDK's complaint when no key is found, which litellm wraps as a server error.
_NO_KEY_MARKERS = ("Missing credentials", "api_key client option must be set")
# A spent budget or quota, in the words of OpenAI ("insufficient_quota") and of a LiteLLM proxy
# (a deployment's budget: "crossed budget"; a virtual key's, user's or team's: "Budget has been exceeded").
_QUOTA_MARKERS = re.compile(r"insufficient_quota|exceeded your current quota|crossed budget|exceeded budget"
                            r"|budget has been exceeded|budget_exceeded|ExceededBudget", re.I)
# What litellm and the openai client put before the server's own words
_WRAPPERS = re.compile(r"^(?:\w+Error: )?(?:litellm\.\w+: )?(?:\w+Error: )?(?:\w+Exception - )?")


class _ForwardToOurLogger(logging.Handler):
    """litellm's records, scrubbed, into ``promptlsp.engine.litellm``: its errors as our
    warnings, everything else as debug (its warnings are about its own internals)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = logging.WARNING if record.levelno >= logging.ERROR else logging.DEBUG
        if not log.isEnabledFor(level):
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed litellm log call must not break a request
            message = str(record.msg)
        log.log(level, "litellm: %s", scrub(message))


def _route_litellm_logs() -> None:
    """Our forwarder as the only handler of litellm's loggers. Done before the import too:
    litellm logs at import time, and its own handler sends records below WARNING to stdout."""
    for name in _LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if isinstance(h, _ForwardToOurLogger)] or [_ForwardToOurLogger()]
        logger.propagate = False
        logger.setLevel(logging.WARNING)


def _import_litellm() -> Any:
    """Import and set up litellm (on the loading thread, see :func:`litellm_loading`)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    _route_litellm_logs()
    import litellm

    _route_litellm_logs()
    litellm_settings.apply(litellm)
    for name in _FIRST_CALL_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # only the first request gets slower
            log.debug("could not pre-import %s: %s", name, exc)
    try:  # the tokenizer's first load, here rather than in a budget check on an event loop
        litellm.token_counter(model="gpt-3.5-turbo", text="warm-up")
    except Exception as exc:
        log.debug("could not load litellm's tokenizer: %s", exc)
    else:
        use_litellm_counter(litellm.token_counter)
    return litellm


def litellm_loading() -> concurrent.futures.Future:
    """litellm, imported once per process on a thread of its own, started by the first caller;
    every caller (any event loop: ``asyncio.wrap_future``) shares it. It cannot be cancelled — a
    cancelled waiter leaves it loading for the others. A failed import is started again by the
    next caller."""
    global _loading
    with _loading_lock:
        if _loading is None or (_loading.done() and _loading.exception() is not None):
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_running_or_notify_cancel()  # running from now on: cancel() is refused

            def load() -> None:
                try:
                    future.set_result(_import_litellm())
                except BaseException as exc:  # the waiters get it; the next caller tries again
                    future.set_exception(exc)

            threading.Thread(target=load, name="promptlsp-litellm-import", daemon=True).start()
            _loading = future
        return _loading


def _plain_error_body(text: str) -> str:
    """``text`` with a JSON error body the server sent (``{"error": {"message": ...}}``, as
    litellm's HTTP handler passes it on; ``{"error": "..."}``; ``{"message": ...}``;
    ``{"detail": ...}``) replaced by the server's own words."""
    for body, start, end in embedded_values(text, "{"):  # the first object decides
        said = body.get("error", body)
        said = said.get("message") or said.get("detail") if isinstance(said, dict) else said
        return text[:start] + said.strip() + text[end:] if isinstance(said, str) and said.strip() else text
    return text


def classify(exc: BaseException, secret_env_names: list[str]) -> BackendError:
    """Map a litellm/openai/httpx exception to a typed, scrubbed :class:`BackendError`."""
    import litellm

    message = scrub(f"{type(exc).__name__}: {_plain_error_body(str(exc))}", secret_env_names)[:_MAX_MESSAGE]
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    retry_after = parse_retry_after(headers) if headers is not None else None
    ordered: list[tuple[tuple[type, ...], str]] = [
        ((litellm.Timeout, asyncio.TimeoutError, TimeoutError), "timeout"),
        ((litellm.RateLimitError, getattr(litellm, "RouterRateLimitError", ())), "rate_limit"),
        ((litellm.AuthenticationError, litellm.PermissionDeniedError), "auth"),
        ((litellm.BadRequestError, litellm.NotFoundError, litellm.UnprocessableEntityError), "bad_request"),
        ((litellm.ServiceUnavailableError, litellm.InternalServerError, litellm.BadGatewayError), "server"),
        ((litellm.APIConnectionError, ConnectionError, OSError), "connection"),
    ]
    kind = next((k for classes, k in ordered if classes and isinstance(exc, classes)), None)
    if any(marker in message for marker in _NO_KEY_MARKERS):  # litellm reports these as 500s
        kind = "auth"
    if kind is None and status is not None:
        kind = (
            "timeout" if status == 408 else "rate_limit" if status == 429 else "server" if status >= 500
            else "auth" if status in (401, 403) else "bad_request" if 400 <= status < 500 else None
        )
    if kind is None and type(exc).__module__.startswith("httpx"):
        kind = "connection"
    if kind in (None, "rate_limit", "bad_request", "server", "other") and _QUOTA_MARKERS.search(message):
        said = _WRAPPERS.sub("", message, count=1).strip()
        return backend_error("quota", f"budget or quota spent at the provider or gateway"
                             f"{f' (HTTP {status})' if status else ''}, not retried: {said}", status=status)
    return backend_error(kind or "other", message, retry_after=retry_after, status=status)


class LiteLLMBackend:
    """See the module docstring."""

    def __init__(self) -> None:
        self._litellm: Any = None
        self._caps: dict[str, BackendCaps] = {}
        self._local_routes: dict[str, Any] = {}
        self._routers: dict[str, Any] = {}
        self._warmed: set[str] = set()  # endpoint sets warmed up
        self._warm_ups: dict[str, asyncio.Task[None]] = {}  # endpoint set -> its warm-up under way

    async def _ensure_litellm(self) -> Any:
        if self._litellm is None:
            self._litellm = await asyncio.wrap_future(litellm_loading())
        return self._litellm

    async def _local_route(self, model: str) -> Any:
        """The embedded model's route (starts it once per process, in a thread)."""
        if model in self._local_routes:
            return self._local_routes[model]
        try:  # import_module, not "from . import local": honours a test's sys.modules entry
            local = importlib.import_module("promptlsp.engine.local")
        except ImportError as exc:
            raise PermanentError("other", f"the embedded local model support is missing: {exc}") from None
        try:
            route = await asyncio.to_thread(local.resolve, model)
        except local.LocalModelUnavailable as exc:
            raise PermanentError("other", scrub(str(exc))) from None
        except Exception as exc:  # a broken local install must fail the call, not the run
            raise PermanentError("other", scrub(f"local model {model} failed to start: {exc}")) from None
        register_secret(str(route.litellm_kwargs.get("api_key") or ""))
        self._local_routes[model] = route
        return route

    async def prepare(self, spec: ModelSpec) -> BackendCaps:
        litellm = await self._ensure_litellm()
        for deployment in spec.deployments:  # memoized: cheap after the first call
            if str(deployment.get("model", "")).startswith(LOCAL_PREFIX):
                await self._local_route(str(deployment["model"]))
        await self._warm_up(spec)
        key = f"{spec.model}|{spec.json_schema}"
        if key in self._caps:
            return self._caps[key]
        if spec.is_local:
            route = await self._local_route(spec.model)
            caps = BackendCaps(json_schema=bool(route.supports_json_schema), max_concurrency=int(route.max_concurrency))
        elif spec.json_schema is not None:  # the user knows their server (litellm's map cannot)
            caps = BackendCaps(json_schema=spec.json_schema)
        else:
            try:
                caps = BackendCaps(json_schema=bool(litellm.supports_response_schema(model=spec.model)))
            except Exception:  # unknown to litellm's map: instruct and parse instead
                caps = BackendCaps(json_schema=False)
        self._caps[key] = caps
        return caps

    async def _warm_up(self, spec: ModelSpec) -> None:
        """Send ``spec``'s request path one mock request (``mock_response``: no network, no
        tokens), once per endpoint set: litellm sets up a provider — lazy imports, its Router —
        on the first request, which must not count against a real request's timeout. Every
        caller waits for the one warm-up under way (concurrent first calls included)."""
        key = canonical_json([spec.model, spec.api_base, to_plain(spec.deployments)])
        if key in self._warmed:
            return
        loop = asyncio.get_running_loop()
        task = self._warm_ups.get(key)
        if task is None or task.get_loop() is not loop:  # none under way (in this event loop)
            task = self._warm_ups[key] = loop.create_task(self._warm_up_once(key, spec))
        # wait, not await: the warm-up's outcome is not the caller's, and a cancelled caller
        # leaves it running for the others
        await asyncio.wait({task})

    async def _warm_up_once(self, key: str, spec: ModelSpec) -> None:
        request = {
            "model": spec.model, "messages": [{"role": "user", "content": "warm-up"}], "timeout": spec.timeout,
            "api_base": spec.api_base, "api_key_env": spec.api_key_env, "deployments": spec.deployments,
            "params": spec.params, "max_tokens": spec.max_tokens, "temperature": spec.temperature, "seed": spec.seed,
        }
        try:
            await self._send(request, mock_response="ok")
            self._warmed.add(key)
        except Exception as exc:  # only the first real request gets slower; the next prepare retries
            log.debug("warm-up of %s failed: %s", spec.model, scrub(str(exc), self._secret_names(request)))
        finally:
            if self._warm_ups.get(key) is asyncio.current_task():
                del self._warm_ups[key]

    @staticmethod
    def _secret_names(request: dict[str, Any]) -> list[str]:
        return key_env_names(request.get("api_key_env"), request.get("deployments") or ())

    def _deployment_params(self, params: dict) -> dict:
        """litellm_params with a ``local/`` model replaced by its resolved route."""
        model = str(params.get("model", ""))
        if model.startswith(LOCAL_PREFIX):
            rest = {k: v for k, v in params.items() if k != "model"}
            return {**rest, **self._local_routes[model].litellm_kwargs}
        return dict(params)

    def _router(self, model: str, api_base: str | None, api_key_env: str | None, extra: Any) -> Any:
        """The Router serving ``model`` from its own endpoint plus the ``extra`` deployments."""
        main: dict[str, Any] = {"model": model}
        if api_base:
            main["api_base"] = api_base
        if api_key_env:
            main["api_key"] = ENV_REF + api_key_env
        deployments = [main, *(to_plain(d) for d in extra)]
        key = canonical_json(deployments)
        if key not in self._routers:
            for deployment in deployments:
                if not str(deployment.get("api_key", "")).startswith(ENV_REF):
                    register_secret(deployment.get("api_key"))
            model_list = [
                {"model_name": model, "litellm_params": self._deployment_params(d)} for d in deployments
            ]
            self._routers[key] = self._litellm.Router(
                model_list=model_list, num_retries=0, disable_cooldowns=True, set_verbose=False
            )
        return self._routers[key]

    def _kwargs(self, request: dict) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"drop_params": True}
        kwargs.update({k: v for k, v in to_plain(request.get("params") or {}).items() if k not in _RESERVED})
        for name in ("temperature", "top_p", "seed", "max_tokens"):
            if request.get(name) is not None:
                kwargs[name] = request[name]
        if request.get("response_format"):
            kwargs["response_format"] = request["response_format"]
        kwargs.update(messages=request["messages"], timeout=request["timeout"], num_retries=0, max_retries=0)
        return kwargs

    async def _send(self, request: dict[str, Any], **extra: Any) -> Any:
        """The litellm call for ``request`` (through its Router, its local route or directly)."""
        litellm = await self._ensure_litellm()
        model = request["model"]
        kwargs = {**self._kwargs(request), **extra}
        if request.get("deployments"):
            router = self._router(model, request.get("api_base"), request.get("api_key_env"), request["deployments"])
            return await router.acompletion(model=model, **kwargs)
        if model.startswith(LOCAL_PREFIX):
            route = await self._local_route(model)
            return await litellm.acompletion(**{**kwargs, **route.litellm_kwargs})
        if request.get("api_base"):
            kwargs["api_base"] = request["api_base"]
        if request.get("api_key_env"):
            kwargs["api_key"] = os.environ.get(request["api_key_env"])
        return await litellm.acompletion(model=model, **kwargs)

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        model = request["model"]
        try:
            response = await self._send(request)
        except asyncio.CancelledError:
            raise
        except BackendError:
            raise
        except Exception as exc:
            raise classify(exc, self._secret_names(request)) from None
        result = response.model_dump()
        hidden = getattr(response, "_hidden_params", None) or {}
        usage = result.get("usage") or {}
        priced_model = model if model.startswith(LOCAL_PREFIX) else (hidden.get("litellm_model_name") or model)
        result["cost_usd"] = pricing.cost_usd(
            priced_model, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        )
        return result
