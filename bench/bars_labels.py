"""Benchmark of the Rust bar and label kernels against in-process baselines (issue 3).

Run ``python bench/bars_labels.py`` (full sizes) or ``--quick`` (small smoke run). Every line
prints the kernel time, the baseline time and the speed-up, measured in this one process; each
timing is the best of ``--repeat`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from cqt.bars import StreamAggregator, to_frame, trade_bars
from cqt.labels import DynamicThreshold, compute_labels

F64 = NDArray[np.float64]
BASE_MS = 1_700_000_000_000
THRESHOLD = DynamicThreshold(window_s=600, min_returns=300, k=1.0, r_min=0.0005, r_max=0.05, fee=0.0004)


@dataclass(frozen=True)
class TradeData:
    symbol: NDArray[np.uint32]
    ts: NDArray[np.int64]
    price: F64
    qty: F64
    taker_buy: NDArray[np.bool_]


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_trades(n: int, symbols: int, rate_per_s: float, rng: np.random.Generator) -> TradeData:
    """Trades in arrival (time) order, symbols interleaved, Poisson arrivals, random-walk prices."""
    gaps_ms = rng.exponential(1000.0 / rate_per_s, n)
    ts = BASE_MS + np.cumsum(gaps_ms).astype(np.int64)
    symbol = rng.integers(0, symbols, n).astype(np.uint32)
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-5, n)))
    qty = rng.exponential(0.5, n) + 1e-6
    return TradeData(symbol, ts, price, qty, rng.random(n) < 0.5)


def polars_bars(d: TradeData, sort: bool) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"symbol": d.symbol, "ts": d.ts, "price": d.price, "qty": d.qty, "taker_buy": d.taker_buy}
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms")).alias("t"))
    if sort:
        frame = frame.sort(["symbol", "t"], maintain_order=True)
    return frame.group_by_dynamic(
        "t", every="1s", closed="left", label="right", group_by="symbol" if sort else None
    ).agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("qty").sum().alias("volume"),
        (pl.col("price") * pl.col("qty")).sum().alias("notional"),
        pl.col("qty").filter(pl.col("taker_buy")).sum().alias("buy_volume"),
        pl.col("qty").filter(~pl.col("taker_buy")).sum().alias("sell_volume"),
        pl.len().alias("n_trades"),
        pl.col("ts").min().alias("first_trade_ts"),
        pl.col("ts").max().alias("last_trade_ts"),
    )


def rust_bars(d: TradeData, threads: int | None = None) -> pl.DataFrame:
    return to_frame(trade_bars(d.ts, d.price, d.qty, d.taker_buy, symbol=d.symbol, threads=threads))


def stream_all(d: TradeData, batch: int) -> int:
    agg = StreamAggregator(grace_ms=2000, lateness_ms=10_000)
    rows = 0
    for start in range(0, len(d.ts), batch):
        end = start + batch
        out = agg.push_trades(
            d.ts[start:end],
            d.price[start:end],
            d.qty[start:end],
            d.taker_buy[start:end],
            symbol=d.symbol[start:end],
        )
        rows += len(out["ts"])
    return rows + len(agg.flush()["ts"])


@dataclass(frozen=True)
class BarData:
    ts: NDArray[np.int64]
    close: F64
    high: F64
    low: F64
    gap: NDArray[np.bool_]
    spread_bps: F64


def make_bars(n: int, rng: np.random.Generator) -> BarData:
    """n one-second bars: random walk, intrabar range, discrete spreads, a gap every ~3 hours."""
    ts = BASE_MS + 1000 * np.arange(1, n + 1, dtype=np.int64)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    high = close * (1.0 + np.abs(rng.normal(0.0, 5e-5, n)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 5e-5, n)))
    gap = np.zeros(n, dtype=np.bool_)
    for start in rng.integers(0, n, max(1, n // 10_800)):
        gap[start : start + 30] = True
    spread = rng.integers(1, 6, n).astype(np.float64) * 0.8
    return BarData(ts, close, high, low, gap, spread)


def rust_labels(b: BarData, threads: int) -> dict[str, NDArray[np.generic]]:
    return compute_labels(
        b.ts,
        b.close,
        b.high,
        b.low,
        gap=b.gap,
        spread_bps=b.spread_bps,
        horizon_s=120,
        threshold=THRESHOLD,
        threads=threads,
    )


def numpy_labels(b: BarData, chunk: int = 1 << 18) -> dict[str, NDArray[np.generic]]:
    """Vectorised numpy reference of the same rules (bars on a contiguous 1 s grid)."""
    n, h, w = len(b.ts), 120, THRESHOLD.window_s
    # r_k = ln(c_k / c_{k-1}) for k >= 1, valid when neither bar is a gap; window of t0 = i holds k in (i-w+1, i].
    ret = np.zeros(n)
    ret[1:] = np.log(b.close[1:] / b.close[:-1])
    ok = np.zeros(n, dtype=np.bool_)
    ok[1:] = ~b.gap[1:] & ~b.gap[:-1]
    csum_sq = np.concatenate(([0.0], np.cumsum(np.where(ok, ret * ret, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(ok)))
    idx = np.arange(n)
    lo = np.maximum(idx - w + 2, 0)
    count = ccount[idx + 1] - ccount[lo]
    sigma = np.sqrt(np.maximum(csum_sq[idx + 1] - csum_sq[lo], 0.0) / np.maximum(count, 1))
    spread = np.where(b.gap, np.nan, b.spread_bps)
    padded = np.concatenate((np.full(w - 1, np.nan), spread))
    # np.median is fast but NaN-poisoned; only windows holding a NaN need the slow nanmedian.
    cnan = np.concatenate(([0], np.cumsum(np.isnan(padded))))
    med = np.empty(n)
    for s in range(0, n, chunk):
        windows = sliding_window_view(padded[s : s + chunk + w - 1], w)
        part = np.median(windows, axis=1)
        rows = np.arange(s, min(s + chunk, n))
        dirty = np.flatnonzero(cnan[rows + w] - cnan[rows] > 0)
        if dirty.size:
            part[dirty] = np.nanmedian(windows[dirty], axis=1)
        med[s : s + chunk] = part
    t = THRESHOLD
    floor = np.maximum(t.r_min, t.cost_mult * (2.0 * t.fee + 2.0 * t.slippage + med / 10_000.0))
    r = np.minimum(np.maximum(floor, t.k * sigma * np.sqrt(h)), t.r_max)
    r = np.where(count >= t.min_returns, r, np.nan)
    # Coverage: t0 + H inside the data and no gap bar in [t0, t0 + H].
    cgap = np.concatenate(([0], np.cumsum(b.gap)))
    end = np.minimum(idx + h, n - 1)
    valid = (idx + h < n) & (cgap[end + 1] - cgap[idx] == 0) & np.isfinite(r)
    upper, lower = b.close * (1.0 + r), b.close * (1.0 - r)
    y = np.zeros(n, dtype=np.int8)
    touch = np.full(n, -1, dtype=np.int64)
    open_ = valid.copy()
    for o in range(1, h + 1):
        j = np.minimum(idx + o, n - 1)
        up, down = b.high[j] >= upper, b.low[j] <= lower
        hit = open_ & (up | down)
        y[hit] = np.where(up[hit] & (~down[hit] | (b.close[j][hit] >= b.close[hit])), 1, -1)
        touch[hit] = b.ts[j][hit]
        open_ &= ~hit
    fwd = np.where(valid, b.close[np.minimum(idx + h, n - 1)] / b.close - 1.0, np.nan)
    return {"valid": valid, "y": y, "touch_ts": touch, "r_t": r, "fwd_return": fwd}


def report(name: str, rust_s: float, base_s: float, target: str) -> None:
    print(
        f"{name:<58} rust {rust_s * 1e3:9.1f} ms  baseline {base_s * 1e3:10.1f} ms  x{base_s / rust_s:7.1f}  ({target})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, smoke run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sections", default="bars,stream,labels", help="comma-separated subset of bars,stream,labels"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    scale = 100 if args.quick else 1
    threads = os.cpu_count() or 1
    print(f"cpus={threads} polars={pl.__version__} numpy={np.__version__} quick={args.quick}")

    if "bars" in sections:
        bench_bars(scale, args.repeat, np.random.default_rng(7))
    if "stream" in sections:
        many = make_trades(10_000_000 // scale, 50, 2000.0, np.random.default_rng(8))
        stream_s = best_of(args.repeat, lambda: stream_all(many, 1000))
        print(
            f"{'streaming, 50 symbols, 1,000-trade batches':<58} {len(many.ts) / stream_s / 1e6:9.1f} M trades/s"
            f"  ({stream_s * 1e3:.1f} ms for {len(many.ts):,}; target >= 20 M/s)"
        )
    if "labels" in sections:
        bench_labels(scale, args.repeat, np.random.default_rng(9), threads)


def bench_bars(scale: int, repeat: int, rng: np.random.Generator) -> None:
    one = make_trades(10_000_000 // scale, 1, 100.0, rng)
    one = TradeData(np.zeros(len(one.ts), np.uint32), one.ts, one.price, one.qty, one.taker_buy)
    report(
        f"batch bars, 1 symbol, {len(one.ts):,} sorted trades",
        best_of(repeat, lambda: rust_bars(one)),
        best_of(repeat, lambda: polars_bars(one, sort=False)),
        "target >= 1.5x vs polars group_by_dynamic",
    )
    print(f"{'  same, 1 thread':<58} rust {best_of(repeat, lambda: rust_bars(one, 1)) * 1e3:9.1f} ms")

    many = make_trades(10_000_000 // scale, 50, 2000.0, rng)
    order = rng.permutation(len(many.ts))
    shuffled = TradeData(
        many.symbol[order], many.ts[order], many.price[order], many.qty[order], many.taker_buy[order]
    )
    report(
        f"batch bars, 50 symbols, {len(many.ts):,} unsorted trades",
        best_of(repeat, lambda: rust_bars(shuffled)),
        best_of(repeat, lambda: polars_bars(shuffled, sort=True)),
        "target >= 10x vs polars sort + group_by_dynamic",
    )
    print(f"{'  same, 1 thread':<58} rust {best_of(repeat, lambda: rust_bars(shuffled, 1)) * 1e3:9.1f} ms")


def bench_labels(scale: int, repeat: int, rng: np.random.Generator, threads: int) -> None:
    bars = make_bars(31_536_000 // scale, rng)
    rust_s = best_of(repeat, lambda: rust_labels(bars, threads))
    rust_1t = best_of(1, lambda: rust_labels(bars, 1))
    start = time.perf_counter()
    ref = numpy_labels(bars)
    numpy_s = time.perf_counter() - start
    report(
        f"triple barrier, dynamic r_t, H=120, {len(bars.ts):,} bars, {threads} threads",
        rust_s,
        numpy_s,
        "target >= 20x vs numpy and < 3 s",
    )
    print(f"{'  same, 1 thread':<58} rust {rust_1t * 1e3:9.1f} ms")
    got = rust_labels(bars, threads)
    got_valid, ref_valid = got["valid"].astype(np.bool_), ref["valid"].astype(np.bool_)
    both = got_valid & ref_valid
    r_got, r_ref = got["r_t"].astype(np.float64), ref["r_t"].astype(np.float64)
    print(
        f"  agreement with numpy: valid {np.mean(got_valid == ref_valid):.6f}, "
        f"y {np.mean(got['y'][both] == ref['y'][both]):.6f}, "
        f"r_t max rel diff {np.nanmax(np.abs(r_got / r_ref - 1.0)):.2e}"
    )


if __name__ == "__main__":
    main()
