"""Admission control: a worker serves at most `api_threads` requests at once (and runs them in as
many threads); a few more wait briefly for a place; beyond that, 503 with Retry-After instead of
a server that freezes. Settings: core/settings.py (api_*)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import anyio.to_thread

from core.errors import ServiceBusyError
from core.settings import Settings, get_settings


@dataclass
class Gate:
    places: anyio.Semaphore
    settings: Settings

    def busy(self, reason: str) -> ServiceBusyError:
        return ServiceBusyError(self.settings.api_retry_after_seconds, reason=reason)


# one gate per event loop (a worker process has one; each TestClient starts its own)
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gate] = weakref.WeakKeyDictionary()


def gate() -> Gate:
    """This loop's gate; made on first use, which also sizes the loop's thread pool."""
    loop = asyncio.get_running_loop()
    found = _gates.get(loop)
    if found is None:
        settings = get_settings()
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        found = _gates[loop] = Gate(anyio.Semaphore(settings.api_threads), settings)
    return found


async def admit() -> AsyncIterator[None]:
    """A route dependency (OneHopRoute adds it first): hold a place while the endpoint runs."""
    g = gate()
    if g.places.value == 0 and g.places.statistics().tasks_waiting >= g.settings.api_queue_size:
        raise g.busy("queue_full")
    try:
        with anyio.fail_after(g.settings.api_queue_timeout_seconds):
            await g.places.acquire()
    except TimeoutError:
        raise g.busy("queue_timeout") from None
    try:
        yield
    finally:
        g.places.release()
