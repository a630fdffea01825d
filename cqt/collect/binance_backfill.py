"""Fill aggTrade id holes from REST: `GET /fapi/v1/aggTrades?fromId=` pages (1000 rows, weight 20).

Rate signals (weight budget, 429, 418) are the shared `BinanceRest` client's business; a call that keeps
failing raises its `BinanceRestError`. A hole the venue no longer serves (an empty page before `to_id`)
is returned as partly filled, so the ledger can mark it unfillable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cqt.collect import binance_parse as bp
from cqt.collect.binance_rest import BinanceRest
from cqt.collect.rows import Row

PAGE = 1000
AGG_TRADES_WEIGHT = 20


@dataclass(frozen=True)
class Backfill:
    """Rows fetched for `from_id..to_id` and whether every id in the range came back."""

    rows: list[Row]
    complete: bool


async def agg_trades_range(client: BinanceRest, symbol: str, from_id: int, to_id: int) -> Backfill:
    """Every aggTrade with `from_id <= a <= to_id`, paging with `fromId = last + 1`."""
    rows: list[Row] = []
    next_id = from_id
    while next_id <= to_id:
        params: dict[str, str | int] = {"symbol": symbol, "fromId": next_id, "limit": PAGE}
        body = await client.get_json("/fapi/v1/aggTrades", params, AGG_TRADES_WEIGHT)
        page = bp.rest_agg_trades(symbol, body, datetime.now(UTC))
        if not page:
            break
        rows.extend(r for r in page if r[2] <= to_id)
        next_id = int(page[-1][2]) + 1
    got = {int(r[2]) for r in rows}
    return Backfill(rows, complete=got >= set(range(from_id, to_id + 1)))
