"""BarFeed (live bars from collected rows) and the batch rebuild of stored ranges, on a real PostgreSQL."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cqt.bars import trade_bars
from cqt.bars_rebuild import rebuild_range
from cqt.collect.bar_feed import BarFeed
from cqt.collect.bar_repair import BarRepair, touched_bars
from cqt.collect.gap_ledger import Gap
from cqt.collect.rows import Row, ms_to_dt
from cqt.db.connect import with_utc
from cqt.db.migrate import migrate
from cqt.store.spool import Spool
from cqt.store.tables import SPECS
from cqt.store.writer import Writer

T0_MS = 1_790_000_000_000
TRADE_FIELDS = ("open", "high", "low", "close", "volume", "n_trades", "buy_volume", "sell_volume")


def _trades(n: int, seed: int, exchange: str = "binance", symbol: str = "BTCUSDT") -> list[Row]:
    rng = random.Random(seed)
    out, ts = [], T0_MS
    for i in range(n):
        ts += rng.choice([0, 5, 40, 300, 1200, 2500])
        out.append((exchange, symbol, 1000 + i, ms_to_dt(ts), ms_to_dt(ts), 100 + rng.random(),
                    rng.choice([0.1, 0.5, 2.0]), rng.choice([1, -1])))  # fmt: skip
    return out


def _last_revision(rows: list[Row]) -> dict[tuple[str, str, datetime], Row]:
    col = SPECS["market_1s"].columns
    best: dict[tuple[str, str, datetime], Row] = {}
    for row in rows:
        key = (row[0], row[1], row[2])
        if key not in best or row[col.index("revision")] >= best[key][col.index("revision")]:
            best[key] = row
    return best


def test_feed_bars_equal_batch_bars_with_duplicates_and_two_venues() -> None:
    emitted: list[Row] = []
    feed = BarFeed(lambda table, rows: emitted.extend(rows), grace_ms=500, lateness_ms=5_000)
    sink = feed.tee(lambda table, rows: None)
    binance, upbit = _trades(400, 1), _trades(300, 2, "upbit", "KRW-BTC")
    arrivals = binance + upbit + binance[100:150]  # a replayed stretch: duplicates
    arrivals.sort(key=lambda r: r[3])
    for i in range(0, len(arrivals), 7):
        sink("trades", arrivals[i : i + 7])
        feed.push()
    feed.flush()
    assert feed.stats.duplicates == 50
    got = _last_revision(emitted)
    col = SPECS["market_1s"].columns
    for source in (binance, upbit):
        ref = trade_bars([r[3].timestamp() * 1000 for r in source], [r[5] for r in source],
                         [r[6] for r in source], [r[7] > 0 for r in source])  # fmt: skip
        exchange, symbol = source[0][0], source[0][1]
        assert sum(1 for k in got if k[:2] == (exchange, symbol)) == len(ref["ts"])
        for i, ts in enumerate(ref["ts"].tolist()):
            row = got[(exchange, symbol, ms_to_dt(ts))]
            for name in TRADE_FIELDS:
                want = ref[name][i].item()
                have = row[col.index(name)]
                assert (have is None and math.isnan(want)) or have == pytest.approx(want, rel=1e-12), name
            if ref["n_trades"][i] == 0:  # empty second: sentinels became NULLs
                assert row[col.index("vwap")] is None and row[col.index("first_trade_ts")] is None
                assert row[col.index("stale")] is True


@pytest.mark.parametrize(("stop_after_ms", "last_flagged"), [(0, True), (1_100, False)])
def test_boundary_bars_the_collector_did_not_cover_whole_are_gap_bars(
    stop_after_ms: int, last_flagged: bool
) -> None:
    emitted: list[Row] = []
    feed = BarFeed(lambda table, rows: emitted.extend(rows), grace_ms=500, lateness_ms=5_000)
    # trades every 100 ms from 0.25 s into a second to 4.95 s, each received 50 ms after it happened: the
    # collector began listening inside the first second
    times = range(T0_MS + 250, T0_MS + 5_000, 100)
    feed.add_trades([("binance", "BTCUSDT", i, ms_to_dt(t), ms_to_dt(t + 50), 100.0, 1.0, 1)
                     for i, t in enumerate(times)])  # fmt: skip
    feed.push()
    # it stops when the last trade arrives, or 1.1 s later: then it heard past the end of the last second
    feed.stop_listening("binance", at=ms_to_dt(T0_MS + 5_000 + stop_after_ms))
    feed.flush()
    col = SPECS["market_1s"].columns
    gaps = {row[2]: row[col.index("gap")] for row in _last_revision(emitted).values()}
    assert gaps == {ms_to_dt(T0_MS + 1000 * k): k == 1 or (k == 5 and last_flagged) for k in range(1, 6)}


def test_repairs_leave_the_boundary_bars_the_collector_missed_flagged(tmp_path: Path) -> None:
    feed = BarFeed(lambda table, rows: None, grace_ms=500, lateness_ms=5_000)
    times = range(T0_MS + 250, T0_MS + 5_000, 100)  # listening from 0.3 s into the first second
    feed.add_trades([("binance", "BTCUSDT", i, ms_to_dt(t), ms_to_dt(t + 50), 100.0, 1.0, 1)
                     for i, t in enumerate(times)])  # fmt: skip
    feed.push()
    feed.stop_listening("binance", at=ms_to_dt(T0_MS + 5_000))  # inside the fifth second
    repair = BarRepair("", feed, Writer("", Spool(tmp_path / "spool", 10**6)))
    # a hole inside the run: its fill cannot cover what came before the connection or after the stop
    repair.schedule(
        Gap("binance", "BTCUSDT", "aggTrade", ms_to_dt(T0_MS + 250), ms_to_dt(T0_MS + 4_950)), True
    )
    # the gap since the previous run: its fill covered the first second up to the first streamed trade
    repair.schedule(
        Gap("binance", "BTCUSDT", "aggTrade", ms_to_dt(T0_MS - 60_000), ms_to_dt(T0_MS + 250)), True
    )
    bounded = [repair._covered(r) for r in repair.pending]
    assert [(b.first_bar, b.last_bar) for b in bounded if b is not None] == [
        (ms_to_dt(T0_MS + 2_000), ms_to_dt(T0_MS + 4_000)),
        (ms_to_dt(T0_MS - 59_000), ms_to_dt(T0_MS + 1_000)),
    ]


def test_touched_bars_cover_every_second_the_gap_meets() -> None:
    start = datetime(2026, 11, 20, 12, 0, 0, 300_000, tzinfo=UTC)
    gap = Gap("binance", "BTCUSDT", "aggTrade", start, start + timedelta(seconds=2, milliseconds=700))
    repair = touched_bars(gap)
    # [12:00:00.300, 12:00:03.000] meets the bars [T-1s, T) for T = 12:00:01 .. 12:00:04
    assert repair.first_bar == datetime(2026, 11, 20, 12, 0, 1, tzinfo=UTC)
    assert repair.last_bar == datetime(2026, 11, 20, 12, 0, 4, tzinfo=UTC)


def test_rebuild_matches_batch_and_flags_unfillable_gaps(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
    trades = _trades(500, 3)
    ref = trade_bars([r[3].timestamp() * 1000 for r in trades], [r[5] for r in trades],
                     [r[6] for r in trades], [r[7] > 0 for r in trades])  # fmt: skip
    stale_bar = ms_to_dt(int(ref["ts"][120]))
    with psycopg.connect(with_utc(fresh_db, 5)) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO trades VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", trades)
            # a live row for one bar that missed trades: the rebuild must replace it
            cur.execute(
                "INSERT INTO market_1s (exchange, symbol, ts, recv_ts, open, close, revision)"
                " VALUES ('binance', 'BTCUSDT', %s, now(), 1, 1, 3)",
                (stale_bar,),
            )
            lost_from, lost_to = ms_to_dt(int(ref["ts"][200]) - 800), ms_to_dt(int(ref["ts"][202]) - 500)
            cur.execute(
                "INSERT INTO gaps (exchange, symbol, stream, start_ts, end_ts, status)"
                " VALUES ('binance', 'BTCUSDT', 'aggTrade', %s, %s, 'unfillable')",
                (lost_from, lost_to),
            )
        conn.commit()
        first, last = ms_to_dt(int(ref["ts"][100])), ms_to_dt(int(ref["ts"][250]))
        assert rebuild_range(conn, "binance", "BTCUSDT", first, last) == 151
        rows = conn.execute(
            "SELECT ts, close, volume, n_trades, gap, revision FROM market_1s ORDER BY ts"
        ).fetchall()
    assert [r[0] for r in rows] == [ms_to_dt(int(t)) for t in ref["ts"][100:251]]
    for i, (ts, close, volume, n, gap, revision) in enumerate(rows, start=100):
        assert (close, volume, n) == (pytest.approx(ref["close"][i]), pytest.approx(ref["volume"][i]),
                                      ref["n_trades"][i])  # fmt: skip
        assert gap == (200 <= i <= 202)
        assert revision == (4 if ts == stale_bar else 0)
