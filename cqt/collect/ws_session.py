"""A WebSocket that stays up: reconnects forever with jittered backoff, detects stalls, rotates early.

- A connection that delivers nothing for `stall_timeout_s` is closed, counted as a stall and replaced (a
  stall without a close is otherwise invisible). That watchdog is the only limit on silence: a shorter
  one is no error, and aiohttp's own receive timeout stays off, since it would raise out of the read loop
  (a crash, no stall counted) instead. `connect_timeout_s` bounds only the handshake and subscription.
- After `rotate_after_s` a second connection is opened and both are read for `overlap_s`, then the old
  one is closed. Venues that cut connections at a fixed age (Binance: 24 h) thus never leave a second
  uncovered; the overlap delivers some messages twice, which natural keys absorb.
- Pings from the server are answered by aiohttp (autoping); `keepalive` sends a venue's own text
  keep-alive (Upbit's `PING`) on a timer so an idle subscription is not closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

Handler = Callable[[str | bytes, datetime], None]
OnOpen = Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]

# ws_receive=None: silence is the watchdog's to judge; ws_close bounds the close handshake of a dead peer.
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0)


async def run_linked(*coros: Coroutine[Any, Any, None]) -> None:
    """Run `coros` as one unit until all return. When one raises (or the caller is cancelled), the others are
    cancelled and awaited before the exception propagates: a collector restarted by the supervisor must not
    find a connection of its failed run still open beside the new one (two live connections, one stream)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    first: set[asyncio.Future[None]] = set()
    try:
        first, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # the failure that ended the unit is the one to report, not an error a sibling raised while closing
    for task in sorted(tasks, key=lambda t: t not in first):
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            raise exc


@dataclass
class SessionStats:
    """Counters of one logical stream, across its connections."""

    connects: int = 0
    reconnects: int = 0
    stalls: int = 0
    rotations: int = 0
    messages: int = 0
    last_recv: datetime | None = None


class WsSession:
    """Keeps one logical stream alive over successive connections to `url`."""

    def __init__(
        self,
        name: str,
        url: str,
        handler: Handler,
        *,
        on_open: OnOpen | None = None,
        stall_timeout_s: float = 30.0,
        rotate_after_s: float | None = None,
        overlap_s: float = 5.0,
        keepalive: tuple[float, str] | None = None,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        self.handler = handler
        self.on_open = on_open
        self.stall_timeout_s = stall_timeout_s
        self.rotate_after_s = rotate_after_s
        self.overlap_s = overlap_s
        self.keepalive = keepalive
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        self.stats = SessionStats()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask `run()` to close its connections and return."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called."""
        return self._stop.is_set()

    async def run(self) -> None:
        """Connect, read and reconnect until `stop()`."""
        backoff = 0.2
        async with aiohttp.ClientSession() as http:
            while not self._stop.is_set():
                try:
                    ws = await self._open(http)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    delay = backoff * (0.5 + random.random())
                    log.warning("%s: connect failed (%s); retrying in %.1fs", self.name, exc, delay)
                    await self._wait_stop(delay)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    continue
                backoff = 0.2
                await self._pump(http, ws)
                if not self._stop.is_set():
                    self.stats.reconnects += 1

    async def _wait_stop(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if stop was requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    async def _open(self, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        async with asyncio.timeout(self.connect_timeout_s):
            ws = await http.ws_connect(self.url, autoping=True, max_msg_size=0, timeout=_WS_TIMEOUT)
        self.stats.connects += 1
        try:
            if self.on_open is not None:
                async with asyncio.timeout(self.connect_timeout_s):
                    await self.on_open(ws)
        except BaseException:
            await ws.close()  # a connection nobody reads must not stay open
            raise
        return ws

    async def _pump(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read `ws` (and its successors, on rotation) until the current connection ends or stop."""
        reader = asyncio.create_task(self._read(ws))
        stop_wait = asyncio.create_task(self._stop.wait())
        loop = asyncio.get_running_loop()
        opened_at = loop.time()
        try:
            while True:
                # age is counted from the current connection's own open, which was overlap_s ago after a rotation
                timeout = (
                    None if self.rotate_after_s is None else self.rotate_after_s - (loop.time() - opened_at)
                )
                done, _ = await asyncio.wait(
                    {reader, stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if stop_wait in done or reader in done:
                    return
                try:
                    successor = await self._open(http)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning(
                        "%s: rotation connect failed (%s); keeping the current connection", self.name, exc
                    )
                    if await self._wait_stop(min(5.0, self.overlap_s)):
                        return
                    continue
                new_reader = asyncio.create_task(self._read(successor))
                opened_at = loop.time()
                await self._wait_stop(self.overlap_s)
                await ws.close()
                await reader
                ws, reader = successor, new_reader
                self.stats.rotations += 1
        finally:
            stop_wait.cancel()
            await ws.close()
            await reader

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # Stall detection and keep-alive run in one watchdog per connection rather than as a timeout
        # context around every receive, which is per-message work on the hottest loop of the collectors.
        loop = asyncio.get_running_loop()
        last_data = [loop.time()]
        watchdog = asyncio.create_task(self._watch(ws, last_data))
        try:
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    last_data[0] = loop.time()
                    recv = datetime.now(UTC)
                    self.stats.messages += 1
                    self.stats.last_recv = recv
                    self.handler(msg.data, recv)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.ERROR):  # fmt: skip
                    log.info("%s: connection ended (close code %s)", self.name, ws.close_code)
                    return
        finally:
            watchdog.cancel()

    async def _watch(self, ws: aiohttp.ClientWebSocketResponse, last_data: list[float]) -> None:
        """Close `ws` after `stall_timeout_s` without data; send the text keep-alive on time."""
        loop = asyncio.get_running_loop()
        last_keepalive = loop.time()
        while not ws.closed:
            now = loop.time()
            if self.keepalive is not None and now - last_keepalive >= self.keepalive[0]:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(self.keepalive[1])
                last_keepalive = now
            remaining = self.stall_timeout_s - (now - last_data[0])
            if remaining <= 0:
                self.stats.stalls += 1
                log.warning("%s: nothing received for %.0fs; reconnecting", self.name, self.stall_timeout_s)
                await ws.close()
                return
            if self.keepalive is not None:
                remaining = min(remaining, self.keepalive[0] - (now - last_keepalive))
            await asyncio.sleep(max(remaining, 0.01))
