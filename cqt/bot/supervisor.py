"""Keep every component running: a component that raises (or returns without being asked to) is
restarted after a jittered, growing backoff, and each crash and restart is reported to `on_event`.

The process stays up whatever one component does; a component that keeps crashing is restarted forever
(docs/design.md §5: reconnects and restarts retry forever), the backoff capped at `backoff_max_s` and reset
once a run lasted `healthy_after_s`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections import Counter
from collections.abc import Callable

from cqt.collect.collection import Component

log = logging.getLogger(__name__)

EventSink = Callable[[str, str, str], None]  # (component, kind, detail)


class Supervisor:
    """Runs components as tasks that restart them on failure."""

    def __init__(
        self,
        on_event: EventSink,
        *,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        healthy_after_s: float = 60.0,
    ) -> None:
        self.on_event = on_event
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.healthy_after_s = healthy_after_s
        self.crashes: Counter[str] = Counter()
        self.restarts: Counter[str] = Counter()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, asyncio.Task[None]] = {}

    def start(self, comp: Component) -> asyncio.Task[None]:
        """Run `comp` under supervision; the returned task ends when the component was asked to stop."""
        task = asyncio.create_task(self._keep(comp), name=f"supervise-{comp.name}")
        self.tasks[comp.name] = task
        return task

    def kill(self, name: str) -> bool:
        """Test hook: cancel the component's current run as if it had crashed (it is restarted)."""
        current = self._current.get(name)
        if current is None or current.done():
            return False
        current.cancel(msg="killed by test hook")
        return True

    async def _keep(self, comp: Component) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff_initial_s
        while True:
            started = loop.time()
            inner = asyncio.create_task(comp.run(), name=comp.name)
            self._current[comp.name] = inner
            try:
                await inner
                if comp.stop_requested:
                    return
                detail = "returned without being asked to stop"
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if (me is not None and me.cancelling()) or comp.stop_requested:
                    raise  # the supervisor itself is being cancelled
                detail = "task killed (cancelled) while running"
            except Exception as exc:  # any failure of one component must not end the process
                if comp.stop_requested:
                    log.warning("%s failed while stopping: %r", comp.name, exc)
                    return
                detail = "".join(traceback.format_exception_only(exc)).strip()
                log.error("%s crashed: %s", comp.name, detail, exc_info=exc)
            self.crashes[comp.name] += 1
            self.on_event(comp.name, "crash", detail)
            if loop.time() - started >= self.healthy_after_s:
                backoff = self.backoff_initial_s
            delay = backoff * (0.5 + random.random())
            backoff = min(backoff * 2, self.backoff_max_s)
            log.warning("%s: restarting in %.1fs", comp.name, delay)
            await asyncio.sleep(delay)
            if comp.stop_requested:
                return
            self.restarts[comp.name] += 1
            self.on_event(comp.name, "restart", f"restart #{self.restarts[comp.name]} after {delay:.1f}s")
