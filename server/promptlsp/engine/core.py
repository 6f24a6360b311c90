"""The engine: shared by many runs (the language server keeps one per process).

It owns what must outlive a run: the response cache, the per-model concurrency limiters (so
two runs on one model together still respect its ``concurrency``) and the backend.
"""

from __future__ import annotations

from pathlib import Path

from .backend import Backend
from .cache import ResponseCache
from .limiter import Limiter
from .retry import RetryPolicy
from .session import Session
from .spec import Budget, ModelSpec


class Engine:
    def __init__(
        self,
        cache_path: Path | str | None = None,
        backend: Backend | None = None,
        *,
        retry: RetryPolicy | None = None,
        limiters: dict[str, Limiter] | None = None,
    ) -> None:
        """``cache_path=None``: no cache. ``backend=None``: the real litellm backend.
        ``limiters``: another engine's :attr:`limiters`, to share its per-model concurrency
        limits (a language server with one engine per workspace root, one limit per model)."""
        if backend is None:
            from .litellm_backend import LiteLLMBackend  # cheap: litellm itself loads on first call

            backend = LiteLLMBackend()
        self.backend = backend
        self.cache = ResponseCache(cache_path) if cache_path is not None else None
        self.retry = retry or RetryPolicy()
        self._limiters: dict[str, Limiter] = limiters if limiters is not None else {}

    def session(self, budget: Budget | None = None, use_cache: bool = True) -> Session:
        """A new run: its own budget and accounting; ``use_cache=False`` skips cache reads."""
        return Session(self, budget, use_cache)

    @property
    def limiters(self) -> dict[str, Limiter]:
        return self._limiters

    def limiter(self, spec: ModelSpec, max_concurrency: int | None = None) -> Limiter:
        """The concurrency limiter of ``spec.model``, resized to the spec's ``concurrency`` or,
        when unset, its route's default (capped by what the backend says the model serves at
        once: a local server's slots; free to grow for a hosted provider, see ``limiter.py``)."""
        capacity, ceiling = spec.calls_at_once(max_concurrency), spec.concurrency_ceiling(max_concurrency)
        limiter = self._limiters.get(spec.model)
        if limiter is None:
            limiter = self._limiters[spec.model] = Limiter(capacity, ceiling)
        elif limiter.configured != (capacity, ceiling):
            limiter.resize(capacity, ceiling)
        return limiter

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
