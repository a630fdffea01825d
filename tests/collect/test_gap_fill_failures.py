"""A gap whose REST fill cannot succeed closes `unfillable` instead of staying open; Retry-After parsing."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from cqt.collect.binance_gaps import BinanceGapFiller
from cqt.collect.binance_rest import BinanceRest
from cqt.collect.gap_ledger import GapLedger
from cqt.collect.http_retry import retry_after
from cqt.collect.id_gaps import IdGap
from cqt.collect.rows import Row

T_MS = 1_790_000_000_000


async def test_a_malformed_rest_answer_closes_the_binance_gap_unfillable() -> None:
    calls = 0

    async def agg_trades(_request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({"unexpected": "object instead of a list"})

    app = web.Application()
    app.router.add_get("/fapi/v1/aggTrades", agg_trades)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stored: list[tuple[str, list[Row]]] = []
    ledger = GapLedger(lambda table, rows: stored.append((table, rows)))
    try:
        async with aiohttp.ClientSession() as http:
            filler = BinanceGapFiller(BinanceRest(http, f"http://127.0.0.1:{port}"), ledger.sink, ledger)
            filler.on_gap("BTCUSDT", IdGap(100, 104, T_MS, T_MS + 2_000))
            await filler.drain()
    finally:
        await runner.cleanup()
    assert calls == 1  # a malformed answer is not retried
    assert ledger.open_gaps == []
    assert (ledger.counts.opened, ledger.counts.unfillable) == (1, 1)
    statuses = [row[7] for table, rows in stored if table == "gaps" for row in rows]
    assert statuses == ["open", "unfillable"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [({"Retry-After": "7"}, 7.0), ({"Retry-After": "0.5"}, 0.5), ({}, 30.0),
     ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 30.0), ({"Retry-After": "-3"}, 0.0)],
)  # fmt: skip
def test_retry_after(header: dict[str, str], expected: float) -> None:
    assert retry_after(header, 30.0) == expected
