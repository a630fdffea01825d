"""Fill aggTrade id holes from REST: `GET /fapi/v1/aggTrades?fromId=` pages (1000 rows, weight 20).

The client obeys the venue's rate signals: on HTTP 429 it waits `Retry-After` (default 60 s) and retries;
on 418 (banned) it stops until `Retry-After` has passed. A hole the venue no longer serves (an empty
page before `to_id`) is returned as partly filled, so the ledger can mark it unfillable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from cqt.collect import binance_parse as bp
from cqt.collect.rows import Row

log = logging.getLogger(__name__)

PAGE = 1000


@dataclass(frozen=True)
class Backfill:
    """Rows fetched for `from_id..to_id` and whether every id in the range came back."""

    rows: list[Row]
    complete: bool


async def _get_json(http: aiohttp.ClientSession, url: str, params: dict[str, str | int]) -> object:
    while True:
        async with http.get(url, params=params) as resp:
            if resp.status in (418, 429):
                wait = float(resp.headers.get("Retry-After", "60"))
                log.warning("binance REST %s: HTTP %d, waiting %.0fs (Retry-After)", url, resp.status, wait)
                await asyncio.sleep(wait)
                continue
            resp.raise_for_status()
            return await resp.json()


async def agg_trades_range(
    http: aiohttp.ClientSession, rest_url: str, symbol: str, from_id: int, to_id: int
) -> Backfill:
    """Every aggTrade with `from_id <= a <= to_id`, paging with `fromId = last + 1`."""
    rows: list[Row] = []
    next_id = from_id
    while next_id <= to_id:
        params: dict[str, str | int] = {"symbol": symbol, "fromId": next_id, "limit": PAGE}
        body = await _get_json(http, f"{rest_url}/fapi/v1/aggTrades", params)
        page = bp.rest_agg_trades(symbol, body, datetime.now(UTC))
        if not page:
            break
        rows.extend(r for r in page if r[2] <= to_id)
        next_id = int(page[-1][2]) + 1
    got = {int(r[2]) for r in rows}
    return Backfill(rows, complete=got >= set(range(from_id, to_id + 1)))
