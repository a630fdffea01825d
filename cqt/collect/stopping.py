"""Stopping within a bound (docs/design.md §5.7): pollers cancel their requests at stop, and a shutdown
step still running at its deadline is cancelled instead of awaited.

A REST answer may take as long as the client's timeout (30 s for Coinglass), a retry's backoff or a
venue's `Retry-After` longer still; PostgreSQL may not answer at all. None of that may hold a shutdown
past Docker's 10 s grace, so whatever is waited for at stop is a task that can be cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

log = logging.getLogger(__name__)

# How long a cancelled task gets to unwind. psycopg answers a first cancellation during a query by asking
# the server to cancel it and waiting up to 5 s for that; a hung server never confirms, and only a second
# cancellation makes psycopg close the connection at once.
CANCEL_GRACE_S = 0.5


async def until_stopped(stop: asyncio.Event, *loops: Coroutine[Any, Any, None]) -> None:
    """Run `loops` until `stop` is set, then cancel them: a request in flight (a slow answer, a backoff,
    a `Retry-After` wait) is abandoned, not awaited. A loop that raises or returns ends the others, and its
    exception propagates, so the supervisor sees the failure and restarts the poller."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopped, *tasks):
            task.cancel()
        await asyncio.wait([stopped, *tasks])
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc


async def finish_by(work: Mapping[asyncio.Future[Any], str], until: float) -> list[str]:
    """Wait for `work` (task -> name) until the loop time `until`, then cancel what still runs; returns the
    names cancelled. A task that ignores the first cancellation gets a second one, and one that survives
    both is left behind (named in the log) rather than holding the shutdown."""
    if not work:
        return []
    loop = asyncio.get_running_loop()
    _, late = await asyncio.wait(work, timeout=max(0.0, until - loop.time()))
    if late:
        log.warning(
            "shutdown: %s still running at the deadline; cancelled", ", ".join(sorted(work[t] for t in late))
        )
    for _ in range(2):
        if not late:
            break
        for task in late:
            task.cancel()
        _, late = await asyncio.wait(late, timeout=CANCEL_GRACE_S)
    for task in late:
        log.error("shutdown: %s did not end when cancelled; left behind", work[task])
    for task, name in work.items():
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
            log.error("shutdown: %s failed: %r", name, exc, exc_info=exc)
    return sorted(name for task, name in work.items() if task.cancelled() or task in late)
