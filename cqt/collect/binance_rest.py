"""Binance USDⓈ-M REST client that keeps its IP weight under the limit (one per process, shared by callers).

Binance counts request weight per IP in calendar-minute windows and reports the window's total in
`X-MBX-USED-WEIGHT-1M` on every answer (reference/protocols.md §2.5). This client reserves each call's
weight before sending and takes the larger of its own count and the header (other processes on the same
IP count too); a call that would push the window above `headroom * weight_limit` waits for the next
window instead, so the venue never has to say 429.

When the venue does complain: 429 waits `Retry-After` and retries; 418 (banned) sets one shared "banned
until" that every caller of this client honours before sending anything. Server errors, timeouts and
connection failures are retried with jittered exponential backoff a bounded number of times, then raise
`BinanceUnavailable`; other 4xx raise `BinanceApiError` with the venue's `code`/`msg`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from cqt.collect.http_retry import retry_after

log = logging.getLogger(__name__)

WINDOW_S = 60.0
# Sent only this long after the local minute boundary, so a venue clock slightly behind ours has rolled too.
ROLL_MARGIN_S = 0.25
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"

Params = Mapping[str, str | int]


class BinanceRestError(Exception):
    """A REST call that did not produce a body; pollers catch this, log it and carry on."""


class BinanceUnavailable(BinanceRestError):
    """Server errors, timeouts or connection failures outlasted the retries."""


class BinanceApiError(BinanceRestError):
    """The venue refused the request (a 4xx other than 418/429), with its error `code` and `msg`."""

    def __init__(self, path: str, status: int, code: int | None, msg: str) -> None:
        super().__init__(f"{path}: HTTP {status} code={code} msg={msg}")
        self.status, self.code, self.msg = status, code, msg


@dataclass
class RestStats:
    """Counters of one client, exported by the bot as metrics; `weight_used`: the last known window total."""

    calls: int = 0
    weight_used: int = 0
    throttled_waits: int = 0
    http_429: int = 0
    http_418: int = 0
    errors: int = 0


def _venue_error(text: str) -> tuple[int | None, str]:
    try:
        body = json.loads(text)
        return int(body["code"]), str(body["msg"])
    except (ValueError, TypeError, KeyError):
        return None, text[:200]


class BinanceRest:
    """`await client.get_json(path, params, weight)`; safe to share between concurrent tasks."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        weight_limit: int = 2400,
        headroom: float = 0.8,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom}")
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.weight_limit = weight_limit
        self.budget = headroom * weight_limit
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.stats = RestStats()
        self._clock = clock  # wall clock: Binance windows are calendar minutes
        self._window = -1
        self._used = 0
        self._throttle_logged = -1
        self._banned_until = 0.0  # time.monotonic()

    async def get_json(self, path: str, params: Params, weight: int) -> Any:
        """The decoded JSON body of `GET base_url + path`; raises `BinanceRestError` subclasses."""
        failures = 0
        while True:
            window = await self._admit(weight)
            self.stats.calls += 1
            try:
                async with self.http.get(self.base_url + path, params=params, timeout=self.timeout) as resp:
                    status, headers, text = resp.status, resp.headers, await resp.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures += 1
                await self._failed(path, f"{type(exc).__name__}: {exc}", failures)
                continue
            self._observe(headers, window)
            if status == 200:
                try:
                    return json.loads(text)
                except ValueError:
                    self.stats.errors += 1
                    raise BinanceRestError(f"{path}: HTTP 200 with a body that is not JSON") from None
            if status == 429:
                self.stats.http_429 += 1
                wait = retry_after(headers, WINDOW_S) * random.uniform(1.0, 1.1)
                log.warning("binance REST %s: HTTP 429, retrying in %.1fs (Retry-After)", path, wait)
                await asyncio.sleep(wait)
            elif status == 418:
                self._banned(path, retry_after(headers, 2 * WINDOW_S))
            elif status >= 500:
                failures += 1
                await self._failed(path, f"HTTP {status}", failures)
            else:
                self.stats.errors += 1
                raise BinanceApiError(path, status, *_venue_error(text))

    async def _admit(self, weight: int) -> int:
        """Wait out a ban and any window without room for `weight`, reserve it; returns the window."""
        while True:
            ban_left = self._banned_until - time.monotonic()
            if ban_left > 0:
                await asyncio.sleep(ban_left)
                continue
            now = self._clock()
            window = int(now // WINDOW_S)
            if window != self._window:
                self._window, self._used = window, 0
            # A call heavier than the whole budget still goes alone into a fresh window.
            if self._used + weight <= self.budget or self._used == 0:
                self._used += weight
                self.stats.weight_used = self._used
                return window
            self.stats.throttled_waits += 1
            if self._throttle_logged != window:
                self._throttle_logged = window
                log.info(
                    "binance REST: %d of %d weight used this minute (budget %.0f); waiting for the next window",
                    self._used,
                    self.weight_limit,
                    self.budget,
                )
            await asyncio.sleep((window + 1) * WINDOW_S - now + ROLL_MARGIN_S)

    def _observe(self, headers: Mapping[str, str], window: int) -> None:
        raw = headers.get(WEIGHT_HEADER)
        if raw is None or window != self._window:
            return  # no header, or an answer from a window that has already rolled
        try:
            reported = int(raw)
        except ValueError:
            return
        self._used = max(self._used, reported)
        self.stats.weight_used = self._used

    def _banned(self, path: str, retry_s: float) -> None:
        self.stats.http_418 += 1
        until = time.monotonic() + retry_s
        if until > self._banned_until:
            self._banned_until = until
            log.critical(
                "binance REST %s: HTTP 418, this IP is BANNED; every call stops for %.0fs (Retry-After)",
                path,
                retry_s,
            )

    async def _failed(self, path: str, what: str, failures: int) -> None:
        self.stats.errors += 1
        if failures >= self.max_attempts:
            raise BinanceUnavailable(f"{path}: {what} ({failures} attempts)")
        wait = self.backoff_s * 2 ** (failures - 1) * random.uniform(0.5, 1.5)
        log.warning("binance REST %s: %s; retry %d in %.2fs", path, what, failures, wait)
        await asyncio.sleep(wait)
