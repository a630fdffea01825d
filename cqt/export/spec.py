"""What an export contains: its parameters, its feature sources with their audit specs, its columns.

Every feature column is the ``latest_usable`` value of one column of one raw table (the dataset contract):
the row matching every equality filter with ``ts <= t0 AND recv_ts <= t0`` and the greatest ``ts``, and
``ts > t0 - max_age_s``. A :class:`Source` is one (table, filters, max age) with the value columns read
from the same selected row; each value becomes one feature column with its own audit spec, so the leak
check recomputes the file without knowing this code.

Sources of symbol ``S`` (Binance USDⓈ-M) and its Upbit market ``KRW-<coin>``:

* ``bn_*``: Binance 1 s bars (non-gap), at most ``BAR_MAX_AGE_S`` old. The bar ending at ``t0`` is
  usable only once it was emitted (``recv_ts <= t0``), so the latest usable bar is usually 2-5 s old.
* ``ub_*``: Upbit 1 s bars of ``KRW-<coin>``, same rule.
* ``mk_*``: Binance ``mark_price`` (markPrice@1s), at most ``MARK_MAX_AGE_S`` old.
* ``bm_<metric>``: every Binance metric stored for ``S``; ``cg_<symbol>_<metric>``: every Coinglass series
  stored for ``S`` or its coin. A polled value of period ``p`` becomes usable some seconds after its period
  ends and is replaced one period later, so its max age is ``max(METRIC_MIN_AGE_S, 2 p)`` (one missed
  poll tolerated). The metric names are those with rows in the export's range (schema fixed up front).

Liquidations are not exported: a latest-event value is not a meaningful feature of a pushed event stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cqt.predict.features import upbit_market_for

Rule = Literal["latest_usable"]
Filter = str | bool

SCHEMA_VERSION = 1
BAR_MAX_AGE_S = 10
MARK_MAX_AGE_S = 10
METRIC_MIN_AGE_S = 600

BAR_VALUES = (
    "open", "high", "low", "close", "volume", "notional", "vwap", "buy_volume", "sell_volume", "n_trades",
    "bid_close", "ask_close", "spread_bps", "mid_close", "imbalance", "stale",
)  # fmt: skip
# Upbit's range and quote prices repeat Binance's in KRW: its close, flow and book shape are the features.
UPBIT_VALUES = tuple(v for v in BAR_VALUES if v not in {"open", "high", "low", "bid_close", "ask_close"})
# Boolean columns of the raw tables that are read (as 0/1).
BOOLEAN_VALUES = frozenset({"stale", "gap"})
MARK_VALUES = ("mark_price", "index_price", "est_settle_price", "funding_rate")

# Columns of the file that are not features (the contract's list).
PRED_COLUMNS = ("pred_p_up", "pred_p_down", "pred_p_none", "pred_r_t", "pred_created_at")
LABEL_COLUMNS = ("y", "fwd_return", "r_t", "label_ts", "touch_ts", "ambiguous", "horizon_s")


class ExportError(Exception):
    """The export cannot run (bad parameters, empty range, mixed sources, unwritable output): exit code 2."""


@dataclass(frozen=True)
class ExportParams:
    """Parameters of one export; ``start <= t0 < end`` (UTC), ``r_policy`` is ``fixed:<r>`` or ``dynamic``."""

    symbol: str
    horizon_s: int
    label: str
    r_policy: str
    every_s: int
    start: datetime
    end: datetime
    model: str

    def as_json(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "horizon_s": self.horizon_s,
            "label": self.label,
            "r_policy": self.r_policy,
            "every_s": self.every_s,
            "start": iso(self.start),
            "end": iso(self.end),
            "model": self.model,
        }


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and millisecond precision."""
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Source:
    """One raw series: the rows of ``table`` matching ``filters``; ``values[i]`` becomes ``columns[i]``.

    Boolean filters (``gap = false``) are applied to the fetched rows, string filters in SQL.
    """

    table: str
    filters: dict[str, Filter]
    values: tuple[str, ...]
    columns: tuple[str, ...]
    max_age_s: int
    extra: tuple[str, ...] = field(default=())

    def sql_filters(self) -> dict[str, str]:
        return {k: v for k, v in self.filters.items() if isinstance(v, str)}

    def flag_filters(self) -> dict[str, bool]:
        return {k: v for k, v in self.filters.items() if isinstance(v, bool)}

    def fetched(self) -> tuple[str, ...]:
        """Value columns to read: the features, then the flag-filter columns and ``extra`` not among them."""
        more = [c for c in (*self.flag_filters(), *self.extra) if c not in self.values]
        return (*self.values, *dict.fromkeys(more))

    def audit_specs(self) -> list[dict[str, object]]:
        return [
            {
                "column": col,
                "table": self.table,
                "filters": dict(self.filters),
                "value": value,
                "rule": "latest_usable",
                "max_age_s": self.max_age_s,
            }
            for value, col in zip(self.values, self.columns, strict=True)
        ]


# Label inputs read together with the Binance bar features (one scan of the biggest table).
LABEL_INPUTS = ("close", "high", "low", "spread_bps", "gap")


def bar_sources(symbol: str) -> tuple[Source, Source]:
    """The Binance (with the label inputs) and Upbit bar sources of ``symbol``."""
    binance = Source(
        "market_1s",
        {"exchange": "binance", "symbol": symbol, "gap": False},
        BAR_VALUES,
        tuple(f"bn_{v}" for v in BAR_VALUES),
        BAR_MAX_AGE_S,
        extra=LABEL_INPUTS,
    )
    upbit = Source(
        "market_1s",
        {"exchange": "upbit", "symbol": upbit_market_for(symbol), "gap": False},
        UPBIT_VALUES,
        tuple(f"ub_{v}" for v in UPBIT_VALUES),
        BAR_MAX_AGE_S,
    )
    return binance, upbit


def mark_source(symbol: str) -> Source:
    return Source(
        "mark_price",
        {"exchange": "binance", "symbol": symbol},
        MARK_VALUES,
        tuple(f"mk_{v}" for v in MARK_VALUES),
        MARK_MAX_AGE_S,
    )


def metric_max_age(period_s: int | None) -> int:
    """Max age of a metric of period ``period_s`` (``None``: an instant value)."""
    return max(METRIC_MIN_AGE_S, 2 * period_s) if period_s else METRIC_MIN_AGE_S


def metric_source(source: str, symbol: str, metric: str, period_s: int | None, column: str) -> Source:
    return Source(
        "metrics",
        {"source": source, "symbol": symbol, "metric": metric},
        ("value",),
        (column,),
        metric_max_age(period_s),
    )


def coin(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC`` (Coinglass stores aggregated series under the coin)."""
    return symbol.removesuffix("USDT")


def feature_columns(sources: list[Source]) -> list[str]:
    """The file's feature columns, source by source."""
    return [c for s in sources for c in s.columns]
