"""Natural-key conflicts: a differing duplicate is counted, logged and recorded; a re-delivery is not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cqt.store.spool import Spool
from cqt.store.writer import Writer
from tests.store.test_writer import T0, count, trade


def conflicts(conninfo: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT table_name, key, conflicts, differing, stored, incoming FROM key_conflicts ORDER BY key"
        ).fetchall()


def again(i: int, later_s: float = 0.0, **changes: object) -> tuple[object, ...]:
    """`trade(i)` received `later_s` seconds later, with `changes` to its payload."""
    names = ("exchange", "symbol", "trade_id", "ts", "recv_ts", "price", "qty", "side")
    row = dict(zip(names, trade(i), strict=True))
    row["recv_ts"] = T0 + timedelta(milliseconds=37 * i + 5, seconds=later_s)
    return tuple({**row, **changes}.values())


async def test_a_differing_duplicate_is_counted_logged_and_recorded(
    db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7))
    writer.put("trades", [trade(i) for i in range(10)])
    await writer.flush()
    writer.put("trades", [again(7, 3.0, price=1.5)])
    await writer.flush()
    # two rows for a new key in one batch: one is stored, the other differs (qty) and is counted
    writer.put("trades", [trade(20), again(20, qty=9.0)])
    await writer.stop()

    assert writer.metrics.key_conflicts == {"trades": 2}
    assert count(db) == (11, 11)
    price = trade(7)[5]
    assert count(db, "SELECT count(*) FROM trades WHERE trade_id = 7 AND price <> 1.5") == (1,)
    recorded = conflicts(db)
    assert [(t, k, n, d) for t, k, n, d, _, _ in recorded] == [
        ("trades", "exchange=binance symbol=BTCUSDT trade_id=20", 1, ["qty"]),
        ("trades", "exchange=binance symbol=BTCUSDT trade_id=7", 1, ["price"]),
    ]
    stored, incoming = recorded[1][4], recorded[1][5]
    assert stored["price"] == price and incoming["price"] == 1.5
    warnings = [r.getMessage() for r in caplog.records if "key_conflicts" in r.getMessage()]
    # rate-limited: the second conflict of the same table within a minute is not logged again
    assert len(warnings) == 1
    assert "trade_id=7" in warnings[0] and "price" in warnings[0] and "1.5" in warnings[0]


async def test_a_redelivery_with_another_recv_ts_is_not_a_conflict(db: str, tmp_path: Path) -> None:
    writer = Writer(db, Spool(tmp_path / "spool", 10**7))
    rows = [trade(i) for i in range(100)]
    writer.put("trades", rows)
    await writer.flush()
    writer.put(
        "trades", [again(i, 30.0) for i in range(100)]
    )  # e.g. the REST re-fetch of a gap that the WebSocket had delivered
    await writer.stop()
    assert writer.metrics.rows_written == 200 and writer.metrics.rows_inserted == 100
    assert writer.metrics.key_conflicts == {}
    assert conflicts(db) == []
