"""Columnar event tables produced by the market model (one numpy array per column)."""

from __future__ import annotations

import dataclasses
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
BOOL = NDArray[np.bool_]
I16 = NDArray[np.int16]


@dataclasses.dataclass(frozen=True)
class Table:
    """Base for the event tables: `sym` indexes the venue's symbol list, `E` is the emission time (ms)."""

    sym: I16
    E: I64

    def __len__(self) -> int:
        return int(self.E.shape[0])

    @classmethod
    def empty(cls) -> Self:
        cols: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            dtype = {"I64": np.int64, "F64": np.float64, "BOOL": np.bool_, "I16": np.int16}[str(f.type)]
            cols[f.name] = np.empty(0, dtype=dtype)
        return cls(**cols)

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)}
        )

    def take(self, index: NDArray[Any] | slice) -> Self:
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def ordered(self) -> Self:
        """Rows sorted by (emission time, symbol); stable, so each symbol keeps its generation order."""
        return self.take(np.lexsort((self.sym, self.E)))


@dataclasses.dataclass(frozen=True)
class BinanceTrades(Table):
    T: I64
    agg_id: I64
    first_id: I64
    last_id: I64
    price: F64
    qty: F64
    buyer_maker: BOOL


@dataclasses.dataclass(frozen=True)
class BinanceQuotes(Table):
    T: I64
    update_id: I64
    bid: F64
    bid_qty: F64
    ask: F64
    ask_qty: F64


@dataclasses.dataclass(frozen=True)
class MarkPrices(Table):
    mark: F64
    mark_avg: F64
    index: F64
    settle: F64
    funding_rate: F64
    next_funding: I64


@dataclasses.dataclass(frozen=True)
class Fundings(Table):
    funding_time: I64
    rate: F64
    mark: F64


@dataclasses.dataclass(frozen=True)
class Liquidations(Table):
    T: I64
    is_sell: BOOL
    price: F64
    avg_price: F64
    qty: F64
    last_qty: F64


@dataclasses.dataclass(frozen=True)
class UpbitTrades(Table):
    T: I64
    seq_id: I64
    price: F64
    qty: F64
    is_ask: BOOL
    best_ask: F64
    best_ask_size: F64
    best_bid: F64
    best_bid_size: F64


@dataclasses.dataclass(frozen=True)
class UpbitBooks(Table):
    best_ask: F64
    best_bid: F64
    ask_scale: F64
    bid_scale: F64
    tick: F64


@dataclasses.dataclass(frozen=True)
class Metrics(Table):
    """Five-minute Binance metric rows; `E` is the period end (when the row becomes knowable)."""

    period_start: I64
    open_interest: F64
    oi_value: F64
    long_account: F64
    taker_buy_vol: F64
    taker_sell_vol: F64
    index_price: F64
    futures_price: F64


@dataclasses.dataclass(frozen=True)
class MarketBatch:
    """All events with emission time in [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    binance_trades: BinanceTrades
    binance_quotes: BinanceQuotes
    marks: MarkPrices
    fundings: Fundings
    liquidations: Liquidations
    upbit_trades: UpbitTrades
    upbit_books: UpbitBooks
    metrics: Metrics

    def message_count(self) -> int:
        """Stream messages this batch feeds (Upbit trades also drive one ticker each)."""
        return (
            len(self.binance_trades)
            + len(self.binance_quotes)
            + len(self.marks)
            + len(self.liquidations)
            + 2 * len(self.upbit_trades)
            + len(self.upbit_books)
        )
