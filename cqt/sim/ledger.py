"""Everything the simulator generated, and what the streams actually carried, for nothing-lost checks.

The REST endpoints answer from here (so a backfill returns exactly the generated trades, including ids a
gap fault withheld from the streams), and tests compare what a client received against it.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from cqt.sim.tables import (
    BinanceQuotes,
    BinanceTrades,
    Fundings,
    Liquidations,
    MarketBatch,
    MarkPrices,
    Metrics,
    Table,
    UpbitBooks,
    UpbitTrades,
)

T = TypeVar("T", bound=Table)


class _Column(Generic[T]):
    """Per-symbol history of one table kind, concatenated lazily on read. With `keep_last` only the latest
    row per symbol is kept (quotes and books are only ever asked for their latest state)."""

    def __init__(self, kind: type[T], n_symbols: int, keep_last: bool = False) -> None:
        self._kind = kind
        self._keep_last = keep_last
        self._parts: list[list[T]] = [[] for _ in range(n_symbols)]

    def append(self, table: T) -> None:
        if not len(table):
            return
        for j, parts in enumerate(self._parts):
            idx = np.flatnonzero(table.sym == j)
            if not idx.shape[0]:
                continue
            if self._keep_last:
                parts[:] = [table.take(idx[-1:])]
            else:
                parts.append(table.take(idx))

    def trim(self, before_ms: int) -> None:
        for j, parts in enumerate(self._parts):
            if parts and len(parts[0]) and int(parts[0].E[0]) < before_ms:
                table = self.get(j)
                kept = table.take(table.E >= before_ms)
                parts[:] = [kept] if len(kept) else []

    def get(self, j: int) -> T:
        parts = self._parts[j]
        if len(parts) > 1:
            parts[:] = [self._kind.concat(parts)]
        return parts[0] if parts else self._kind.empty()

    def last(self, j: int) -> T | None:
        parts = self._parts[j]
        return parts[-1].take(slice(-1, None)) if parts else None


@dataclass(frozen=True)
class Withheld:
    venue: str
    symbol: str
    trade_id: int  # Binance aggTrade `a`, Upbit `sequential_id`


class Ledger:
    """Thread-safe record of one simulator run (written by the event loop, read by tests in any thread)."""

    def __init__(
        self,
        binance_symbols: tuple[str, ...],
        upbit_symbols: tuple[str, ...],
        retention_ms: int | None = None,
    ) -> None:
        self.binance_symbols = binance_symbols
        self.retention_ms = retention_ms
        self._trimmed_at = 0
        self.upbit_symbols = upbit_symbols
        self._lock = threading.Lock()
        nb, nu = len(binance_symbols), len(upbit_symbols)
        self._binance_trades = _Column(BinanceTrades, nb)
        self._binance_quotes = _Column(BinanceQuotes, nb, keep_last=True)
        self._marks = _Column(MarkPrices, nb)
        self._fundings = _Column(Fundings, nb)
        self._liquidations = _Column(Liquidations, nb)
        self._metrics = _Column(Metrics, nb)
        self._upbit_trades = _Column(UpbitTrades, nu)
        self._upbit_books = _Column(UpbitBooks, nu, keep_last=True)
        self._withheld: list[Withheld] = []
        self.frames_sent: Counter[str] = Counter()  # by venue, data frames written to sockets
        self.frames_suppressed: Counter[str] = Counter()  # by venue, data frames a fault kept back
        self.faults_applied: Counter[str] = Counter()  # by fault kind

    def record(self, batch: MarketBatch) -> None:
        with self._lock:
            self._binance_trades.append(batch.binance_trades)
            self._binance_quotes.append(batch.binance_quotes)
            self._marks.append(batch.marks)
            self._fundings.append(batch.fundings)
            self._liquidations.append(batch.liquidations)
            self._metrics.append(batch.metrics)
            self._upbit_trades.append(batch.upbit_trades)
            self._upbit_books.append(batch.upbit_books)
            if self.retention_ms is not None and batch.end_ms - self._trimmed_at >= 60_000:
                self._trim(batch.end_ms - self.retention_ms)
                self._trimmed_at = batch.end_ms

    def _trim(self, before_ms: int) -> None:
        """Forget history older than the retention window (bounded memory in long, fast runs)."""
        for column in (self._binance_trades, self._marks, self._fundings, self._liquidations, self._metrics):
            column.trim(before_ms)
        self._upbit_trades.trim(before_ms)

    def withhold(self, venue: str, symbol: str, trade_ids: list[int]) -> None:
        with self._lock:
            self._withheld.extend(Withheld(venue, symbol, i) for i in trade_ids)
            self.faults_applied["gap"] += len(trade_ids)

    def withheld_ids(self, venue: str, symbol: str) -> list[int]:
        with self._lock:
            return [w.trade_id for w in self._withheld if w.venue == venue and w.symbol == symbol]

    def binance_trades(self, symbol: str) -> BinanceTrades:
        with self._lock:
            return self._binance_trades.get(self.binance_symbols.index(symbol))

    def binance_quote_last(self, symbol: str) -> BinanceQuotes | None:
        with self._lock:
            return self._binance_quotes.last(self.binance_symbols.index(symbol))

    def marks(self, symbol: str) -> MarkPrices:
        with self._lock:
            return self._marks.get(self.binance_symbols.index(symbol))

    def mark_last(self, symbol: str) -> MarkPrices | None:
        with self._lock:
            return self._marks.last(self.binance_symbols.index(symbol))

    def fundings(self, symbol: str) -> Fundings:
        with self._lock:
            return self._fundings.get(self.binance_symbols.index(symbol))

    def liquidations(self, symbol: str) -> Liquidations:
        with self._lock:
            return self._liquidations.get(self.binance_symbols.index(symbol))

    def metrics(self, symbol: str) -> Metrics:
        with self._lock:
            return self._metrics.get(self.binance_symbols.index(symbol))

    def upbit_trades(self, market: str) -> UpbitTrades:
        with self._lock:
            return self._upbit_trades.get(self.upbit_symbols.index(market))

    def upbit_book_last(self, market: str) -> UpbitBooks | None:
        with self._lock:
            return self._upbit_books.last(self.upbit_symbols.index(market))

    def binance_trade_ids(self, symbol: str) -> list[int]:
        return [int(a) for a in self.binance_trades(symbol).agg_id]

    def upbit_trade_ids(self, market: str) -> list[int]:
        return [int(s) for s in np.asarray(self.upbit_trades(market).seq_id)]
