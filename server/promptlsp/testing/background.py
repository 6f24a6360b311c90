"""An asyncio service (a loopback HTTP server) run in a daemon thread with its own event loop,
so synchronous code — tests, benchmarks, a shell — can start and stop it."""

from __future__ import annotations

import asyncio
import threading
from typing import Awaitable, Callable


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[object]]) -> None:
        """Run ``start()`` in the thread's loop and return once it has; its exception is raised
        here, after ``stop()`` has released whatever it had opened. ``stop()`` runs again when
        :meth:`stop` ends the loop."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                try:
                    loop.run_until_complete(stop())
                except Exception:
                    pass
                finally:
                    loop.close()
                    self._loop = None
                    ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
