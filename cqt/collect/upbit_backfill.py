"""Upbit trades from REST: `GET /v1/trades/ticks` pages (newest first, 500 rows) walked back with `cursor`.

`/v1/trades/ticks` answers one UTC day at a time: today without `days_ago`, earlier days with
`days_ago` 1..7; older trades are not served at all. A range is therefore walked day by day, newest day
first, starting each day below `to` (the end of the range, whole seconds) and paging with
`cursor` = the last `sequential_id` of the previous page until a page reaches below the range start.

Rate signals: `Remaining-Req: ...; sec=N` is what is left of the group's 10 requests this second; at 0
the next request waits for the next second. HTTP 429 backs off (jittered, doubling) and retries; 418 (a
block) waits `Retry-After` (default 60 s). 5xx and connection errors are retried the same way; a request
that still fails after `ATTEMPTS` tries ends the walk, and what was fetched so far comes back as
incomplete, so the gap ledger can mark the hole unfillable.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from cqt.collect import upbit_parse as up
from cqt.collect.binance_backfill import Backfill
from cqt.collect.http_retry import retry_after
from cqt.collect.rows import MalformedFrame, Row, ms_to_dt

log = logging.getLogger(__name__)

PAGE = 500
DAYS_SERVED = 7
DAY_MS = 86_400_000
ATTEMPTS = 5
BACKOFF_S = 0.2
BACKOFF_MAX_S = 4.0
BLOCK_DEFAULT_S = 60.0
_SEC_RE = re.compile(r"\bsec=(\d+)")


class RestFailed(Exception):
    """A request Upbit refused for good (4xx other than 418/429) or that kept failing after retries."""


class _Transient(Exception):
    """HTTP 429 or 5xx: worth another try after a pause."""


def _next_window() -> float:
    """Wall-clock time at which the next one-second rate window has surely begun."""
    return math.floor(time.time()) + 1.01


async def get_json(
    http: aiohttp.ClientSession, url: str, params: dict[str, str | int]
) -> tuple[Any, datetime]:
    """One quotation GET with Upbit's rate signals obeyed: (JSON body, arrival time)."""
    delay = BACKOFF_S
    for attempt in range(1, ATTEMPTS + 1):
        resume_at = 0.0  # set when this second's budget is used up
        try:
            async with http.get(url, params=params) as resp:
                recv_ts = datetime.now(UTC)
                remaining = _SEC_RE.search(resp.headers.get("Remaining-Req", ""))
                if remaining is not None and int(remaining.group(1)) == 0:
                    resume_at = _next_window()
                if resp.status == 418:
                    block = retry_after(resp.headers, BLOCK_DEFAULT_S)
                    log.error("upbit REST %s: HTTP 418 (blocked), waiting %.0fs", url, block)
                    await asyncio.sleep(block)
                    continue
                if resp.status == 429 or resp.status >= 500:
                    raise _Transient(f"HTTP {resp.status}")
                if resp.status >= 400:
                    raise RestFailed(f"HTTP {resp.status}: {await resp.text()}")
                body = await resp.json(content_type=None)
            await asyncio.sleep(max(0.0, resume_at - time.time()))
            return body, recv_ts
        except (aiohttp.ClientError, TimeoutError, _Transient) as exc:
            if attempt == ATTEMPTS:
                raise RestFailed(f"{url}: {exc} (after {ATTEMPTS} attempts)") from exc
            wait = max(delay * (0.5 + random.random()), resume_at - time.time())
            log.warning("upbit REST %s: %s; retry %d in %.2fs", url, exc, attempt, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX_S)
    raise RestFailed(f"{url}: still blocked after {ATTEMPTS} attempts")


def _to_param(end_ms: int) -> str | None:
    """`to` (exclusive, whole seconds of the day) that keeps every trade at or before `end_ms`."""
    second = (end_ms % DAY_MS) // 1000 + 1
    if second >= 86_400:
        return None
    return f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"


async def _walk_day(
    http: aiohttp.ClientSession,
    url: str,
    market: str,
    days_ago: int,
    to: str | None,
    start: datetime,
    end: datetime,
    out: list[Row],
) -> bool:
    """Append the day's trades in `[start, end]` to `out`; True once a page reached below `start`."""
    params: dict[str, str | int] = {"market": market, "count": PAGE}
    if days_ago:
        params["days_ago"] = days_ago
    if to is not None:
        params["to"] = to
    while True:
        body, recv_ts = await get_json(http, url, params)
        page = up.rest_trades(market, body, recv_ts)
        out.extend(r for r in page if start <= r[3] <= end)
        if any(r[3] < start for r in page):
            return True
        if len(page) < PAGE:
            return False
        params.pop("to", None)
        params["cursor"] = page[-1][2]


async def trades_between(
    http: aiohttp.ClientSession, rest_url: str, market: str, start_ms: int, end_ms: int
) -> Backfill:
    """Every trade of `market` with `start_ms <= ts <= end_ms`; complete when REST covered the whole range
    (it reached below `start_ms`, or exhausted the day `start_ms` falls in, within the days served)."""
    url = f"{rest_url}/v1/trades/ticks"
    start, end = ms_to_dt(start_ms), ms_to_dt(end_ms)
    today = time.time_ns() // 1_000_000 // DAY_MS
    first_day, last_day = start_ms // DAY_MS, min(end_ms // DAY_MS, today)
    rows: list[Row] = []
    for day in range(last_day, max(first_day, today - DAYS_SERVED) - 1, -1):
        to = _to_param(end_ms) if day == end_ms // DAY_MS else None
        try:
            if await _walk_day(http, url, market, today - day, to, start, end, rows):
                return Backfill(rows, complete=True)
        except (RestFailed, MalformedFrame) as exc:
            log.error("upbit REST backfill of %s stopped: %s", market, exc)
            return Backfill(rows, complete=False)
    served = first_day >= today - DAYS_SERVED
    if not served:
        log.error("upbit %s: trades before %s are older than Upbit serves", market, ms_to_dt(start_ms))
    return Backfill(rows, complete=served)
