"""Benchmark of the dataset export (issue 8): N days of 1 s bars of one symbol with alt data, end to end.

The data comes from the simulator's market model (``MarketModel(seed).generate``), aggregated into 1 s bars
by the Rust kernel (Binance trades + bookTicker, Upbit trades + orderbook), plus mark prices, the 5-minute
Binance metrics and an hourly Coinglass series, COPYed straight into a throwaway database on this
benchmark's own embedded PostgreSQL under ``--cache`` (kept between runs: generating 30 days takes a few
minutes). Bars get ``recv_ts = ts + 2 s`` (+ jitter), metrics ``recv_ts = period end + 30 s``.

The export runs in a child process (``export_dataset``, every 1 s, H = 120, triple barrier, dynamic
``r_t``), which reports its wall time and peak RSS (``ru_maxrss``). The ceiling is the raw
``COPY (<the same SELECTs>) TO STDOUT (FORMAT binary)`` of every source over the range, read and discarded.

    python bench/export.py            # 30 days (targets: >= 500,000 rows/s, peak RSS < 1.5 GB)
    python bench/export.py --days 1   # smoke run
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from cqt.bars import Quotes, to_frame, trade_bars
from cqt.db import embedded
from cqt.db.connect import with_utc
from cqt.db.migrate import migrate
from cqt.export.dataset import export_dataset, plan_export
from cqt.export.pg_read import select_sql
from cqt.export.spec import ExportParams
from cqt.predict.baseline import MODEL
from cqt.sim.market import MarketModel
from cqt.sim.tables import MarketBatch

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BAR_COLUMNS = (
    "exchange", "symbol", "ts", "recv_ts", "open", "high", "low", "close", "volume", "notional", "vwap",
    "buy_volume", "sell_volume", "n_trades", "bid_open", "bid_high", "bid_low", "bid_close", "ask_open",
    "ask_high", "ask_low", "ask_close", "spread_bps", "mid_close", "imbalance", "stale", "gap",
)  # fmt: skip
METRICS = ("open_interest", "oi_value", "long_account", "taker_buy_vol", "taker_sell_vol")


def params(days: int) -> ExportParams:
    end = START + timedelta(days=days)
    return ExportParams("BTCUSDT", 120, "triple", "dynamic", 1, START, end, MODEL)


def copy_frame(conn: psycopg.Connection[Any], table: str, frame: pl.DataFrame) -> None:
    buf = io.BytesIO()
    frame.write_csv(buf, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.6f+00:00")
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), cols)) as copy:  # fmt: skip
        copy.write(buf.getvalue())


def ms(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("ms", "UTC"))


def bar_frame(exchange: str, symbol: str, cols: dict[str, Any], lo: int, hi: int, seed: int) -> pl.DataFrame:
    """Kernel bars with ``lo < ts <= hi`` as market_1s rows."""
    frame = to_frame(cols).rename({"mid": "mid_close"})
    frame = frame.filter((pl.col("ts").cast(pl.Int64) > lo) & (pl.col("ts").cast(pl.Int64) <= hi))
    jitter = np.random.default_rng([seed, lo // 1000]).integers(0, 1_500_000, frame.height)
    frame = frame.with_columns(pl.Series("recv_delay_us", 2_000_000 + jitter))
    return frame.with_columns(
        pl.lit(exchange).alias("exchange"),
        pl.lit(symbol).alias("symbol"),
        (pl.col("ts").cast(pl.Datetime("us", "UTC")) + pl.duration(microseconds="recv_delay_us")).alias(
            "recv_ts"
        ),
        pl.col(pl.Float64).fill_nan(None),
    ).select(BAR_COLUMNS)


def day_tables(
    day: list[MarketBatch], prev: list[MarketBatch], lo: int, hi: int, seed: int
) -> dict[str, pl.DataFrame]:
    """market_1s, mark_price and metrics rows of one day; ``prev`` (the hour before) carries the book
    and the last close into the day so every second of it has a bar."""
    both = prev + day
    bt = [b.binance_trades for b in both]
    bq = [b.binance_quotes for b in both]
    b_ts = np.concatenate([t.T for t in bt])
    binance = trade_bars(
        b_ts, np.concatenate([t.price for t in bt]), np.concatenate([t.qty for t in bt]),
        ~np.concatenate([t.buyer_maker for t in bt]),
        quotes=Quotes(np.zeros(sum(len(q) for q in bq)), np.concatenate([q.T for q in bq]),
                      np.concatenate([q.bid for q in bq]), np.concatenate([q.bid_qty for q in bq]),
                      np.concatenate([q.ask for q in bq]), np.concatenate([q.ask_qty for q in bq])),
    )  # fmt: skip
    ut = [b.upbit_trades for b in both]
    ub = [b.upbit_books for b in both]
    upbit = trade_bars(
        np.concatenate([t.T for t in ut]), np.concatenate([t.price for t in ut]),
        np.concatenate([t.qty for t in ut]), ~np.concatenate([t.is_ask for t in ut]),
        quotes=Quotes(np.zeros(sum(len(q) for q in ub)), np.concatenate([q.E for q in ub]),
                      np.concatenate([q.best_bid for q in ub]), np.concatenate([q.bid_scale for q in ub]),
                      np.concatenate([q.best_ask for q in ub]), np.concatenate([q.ask_scale for q in ub])),
    )  # fmt: skip
    bars = pl.concat([
        bar_frame("binance", "BTCUSDT", binance, lo, hi, seed), bar_frame("upbit", "KRW-BTC", upbit, lo, hi, seed + 1),
    ])  # fmt: skip
    marks = pl.concat([pl.DataFrame({
        "symbol": "BTCUSDT", "ts": b.marks.E, "recv_ts": b.marks.E + 50, "mark_price": b.marks.mark,
        "index_price": b.marks.index, "est_settle_price": b.marks.settle, "funding_rate": b.marks.funding_rate,
        "next_funding_ts": b.marks.next_funding,
    }) for b in day]).with_columns(ms("ts"), ms("recv_ts"), ms("next_funding_ts")).unique("ts", keep="first", maintain_order=True)  # fmt: skip
    metrics = pl.concat([
        pl.DataFrame({"source": "binance", "symbol": "BTCUSDT", "metric": name, "ts": b.metrics.E,
                      "recv_ts": b.metrics.E + 30_000, "period_s": 300, "value": getattr(b.metrics, name)})
        for b in day for name in METRICS
    ] + [
        pl.DataFrame({"source": "coinglass", "symbol": "BTC", "metric": "oi_agg_close", "ts": b.metrics.E,
                      "recv_ts": b.metrics.E + 60_000, "period_s": 3600, "value": b.metrics.open_interest * 1.7}
                     ).filter(pl.col("ts") % HOUR_MS == 0)
        for b in day
    ]).with_columns(ms("ts"), ms("recv_ts"), pl.col("period_s").cast(pl.Int32))  # fmt: skip
    return {"market_1s": bars, "mark_price": marks, "metrics": metrics}


def generate(conninfo: str, days: int, seed: int) -> None:
    model = MarketModel(seed, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",), rate=30)
    start_ms = int(START.timestamp() * 1000) - HOUR_MS
    batches = model.generate(start_ms, start_ms + HOUR_MS + days * DAY_MS, HOUR_MS)
    prev = [next(batches)]
    t = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for d in range(days):
            day = [next(batches) for _ in range(24)]
            lo = start_ms + HOUR_MS + d * DAY_MS
            for table, frame in day_tables(day, prev, lo, lo + DAY_MS, seed).items():
                copy_frame(conn, table, frame)
            prev = day[-1:]
            print(f"generated day {d + 1}/{days} ({time.perf_counter() - t:.0f} s)", flush=True)
        conn.execute("ANALYZE")
        conn.execute("CREATE TABLE bench_done (days int)")


def database(cache: Path, days: int, seed: int) -> str:
    """The cached database of ``days`` days (generated on first use)."""
    uri = embedded.start(cache / "pg")
    name = f"bench_{days}d_seed{seed}"
    with psycopg.connect(uri, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conninfo = with_utc(psycopg.conninfo.make_conninfo(uri, dbname=name), 10)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        done = conn.execute("SELECT to_regclass('bench_done') IS NOT NULL").fetchone()
        if done and done[0]:
            return conninfo
        migrate(conn)
    generate(conninfo, days, seed)
    return conninfo


def child(conninfo: str, days: int, out: Path, connections: int) -> None:
    """The measured export (own process, so ru_maxrss is the export's alone)."""
    with psycopg.connect(conninfo) as conn, psycopg.connect(conninfo) as second:
        result = export_dataset(conn, params(days), out, second_conn=second if connections == 2 else None)
    print(json.dumps({
        "rows": result.stats.rows, "seconds": result.seconds, "bytes": result.size_bytes,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "violations": result.file_violations,
        "dropped": result.stats.dropped_by_reason(), "labels": result.stats.distribution(),
        "vol": result.stats.realised_vol(),
    }))  # fmt: skip


def psql_copy(conninfo: str, queries: list[str]) -> int:
    """Bytes sent by PostgreSQL for ``queries`` (``COPY ... TO STDOUT``) to ``psql``, libpq's C client."""
    args = [str(embedded.psql_binary()), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    with subprocess.Popen([*args, *(a for q in queries for a in ("-c", q))], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        size = sum(len(block) for block in iter(lambda: proc.stdout.read(1 << 20), b""))  # type: ignore[union-attr]
    if proc.returncode:
        raise SystemExit(f"psql exited {proc.returncode}")
    return size


def ceiling(conninfo: str, days: int, connections: int) -> tuple[float, int, int]:
    """Seconds, source rows and bytes of the raw binary COPY of every source's SELECT over the range, sent
    to ``psql`` on ``connections`` connections in parallel, split as the export splits them (Binance bars |
    the rest)."""
    p = params(days)
    since, until = p.start - timedelta(seconds=601), p.end + timedelta(seconds=p.horizon_s)
    rows = 0
    queries = []
    with psycopg.connect(conninfo) as conn:
        for source in plan_export(conn, p).sources:
            bind = {**source.sql_filters(), "since": since, "until": until}
            count = sql.SQL("SELECT count(*) FROM ({}) s").format(select_sql(source))
            n = conn.execute(count, bind).fetchone()
            rows += n[0] if n else 0
            copy = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select_sql(source))
            queries.append(psycopg.ClientCursor(conn).mogrify(copy, bind))
    groups = [queries] if connections == 1 else [queries[:1], queries[1:]]
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        size = sum(pool.map(lambda g: psql_copy(conninfo, g), groups))
    return time.perf_counter() - t, rows, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cqt-bench-export"))
    ap.add_argument(
        "--connections", type=int, choices=(1, 2), default=2, help="read connections of the export"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = args.cache / f"btc_{args.days}d.parquet"
    if args.child:
        child(args.child, args.days, out, args.connections)
        return
    print(f"cpus={os.cpu_count()} python={platform.python_version()} days={args.days} seed={args.seed} "
          f"date={datetime.now(UTC):%Y-%m-%d}")  # fmt: skip
    conninfo = database(args.cache, args.days, args.seed)
    try:
        with psycopg.connect(conninfo) as conn:
            n_bars = conn.execute("SELECT count(*) FROM market_1s").fetchone()
        print(f"database: {n_bars[0] if n_bars else 0:,} market_1s rows (both venues)")
        copy_s, copy_rows, copy_bytes = ceiling(conninfo, args.days, args.connections)
        run = subprocess.run([sys.executable, __file__, "--days", str(args.days), "--cache", str(args.cache),
                              "--connections", str(args.connections), "--child", conninfo],
                             capture_output=True, text=True, check=True)  # fmt: skip
        r = json.loads(run.stdout.strip().splitlines()[-1])
        copy_s2, _, _ = ceiling(conninfo, args.days, args.connections)
        best_copy = min(copy_s, copy_s2)
        rate = r["rows"] / r["seconds"]
        print(f"export: {r['rows']:,} rows in {r['seconds']:.2f} s = {rate:,.0f} rows/s; "
              f"peak RSS {r['maxrss_kb'] / 1024:,.0f} MiB; file {r['bytes'] / 2**20:,.1f} MiB; "
              f"label_ts violations on file {r['violations']}")  # fmt: skip
        print(f"  dropped {r['dropped']}; labels {r['labels']}")
        print(f"  = {copy_rows / r['seconds']:,.0f} source rows/s ({copy_rows:,} rows read from the sources)")
        print(f"ceiling: psql receiving the raw COPY ... TO STDOUT (binary) of the same SELECTs on "
              f"{args.connections} connection(s): "
              f"{copy_bytes / 2**20:,.0f} MiB in {best_copy:.2f} s (best of 2) = {r['rows'] / best_copy:,.0f} "
              f"output rows/s, {copy_rows / best_copy:,.0f} source rows/s; the export takes "
              f"{r['seconds'] / best_copy:.2f}x the COPY time")  # fmt: skip
        print(f"targets: >= 500,000 rows/s: {'met' if rate >= 500_000 else 'MISSED'}; "
              f"peak RSS < 1.5 GB: {'met' if r['maxrss_kb'] * 1024 < 1.5e9 else 'MISSED'}")  # fmt: skip
    finally:
        embedded.stop(args.cache / "pg")


if __name__ == "__main__":
    main()
