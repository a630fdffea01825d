"""What the writer knows about each table: columns in row order, COPY types, conflict policy.

Rows handed to the writer are tuples in `columns` order. Timestamps are timezone-aware `datetime`s.

Natural-key conflicts: `INSERT ... ON CONFLICT DO NOTHING` keeps the stored row. A re-delivery of the same
fact (a WebSocket row re-fetched over REST, a replayed spool batch) is harmless; a row for a stored key
with another *payload* (the columns that describe the fact) means one version was dropped, so the writer
counts it and records both versions in `key_conflicts`. Decisions, per table (`payload` below):

* `recv_ts` is never payload: it is when this process learned the fact, and a REST re-fetch or a replay
  learns it again later.
* trades: ts, price, qty, side. Binance aggTrade `T`/`p`/`q`/`m` and Upbit `trade_timestamp` (REST
  `timestamp`) are the same values over WebSocket and REST.
* quotes, mark_price: every value of the update (an Upbit order-book seq is made unique per distinct
  top of book, so a differing row under one seq is a lost snapshot).
* liquidations: avg_price and status (the rest of the order is its key).
* metrics: period_s and value. A venue that revises a published period shows up here: the first value
  is the one stored, and the check says so rather than hiding the revision.
* coinglass_call_status: every outcome column (two calls stamped with the same instant are two calls).
* market_1s, gaps: none. Their rows are revised on purpose and the revision column decides: a row
  replaces the stored one unless its revision is lower, and a lower revision is an older version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """A table the writer fills through a staging table."""

    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    key: tuple[str, ...]
    # Set for tables whose rows may be revised (bars): the revision column decides which row wins.
    revision_column: str | None = None
    # Columns compared when a row meets a stored row with its key (see the module docstring).
    payload: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.types):
            raise ValueError(f"{self.name}: {len(self.columns)} columns but {len(self.types)} types")
        missing = set(self.key) - set(self.columns)
        if missing:
            raise ValueError(f"{self.name}: key columns {sorted(missing)} are not columns")


def _spec(name: str, key: str, columns: str, revision_column: str | None = None) -> TableSpec:
    """Build a spec from `"col type, col type, ..."` (types as PostgreSQL names for binary COPY).

    The payload is every non-key column but `recv_ts`; none for revised tables.
    """
    pairs = [part.split() for part in columns.split(",") if part.strip()]
    names = tuple(p[0] for p in pairs)
    keys = tuple(key.split())
    payload = () if revision_column else tuple(c for c in names if c not in keys and c != "recv_ts")
    return TableSpec(name, names, tuple(p[1] for p in pairs), keys, revision_column, payload)


TRADES = _spec(
    "trades",
    key="exchange symbol trade_id",
    columns="exchange text, symbol text, trade_id int8, ts timestamptz, recv_ts timestamptz,"
    " price float8, qty float8, side int2",
)
QUOTES = _spec(
    "quotes",
    key="exchange symbol seq",
    columns="exchange text, symbol text, seq int8, ts timestamptz, recv_ts timestamptz,"
    " bid_price float8, bid_qty float8, ask_price float8, ask_qty float8",
)
MARKET_1S = _spec(
    "market_1s",
    key="exchange symbol ts",
    columns="exchange text, symbol text, ts timestamptz, recv_ts timestamptz,"
    " open float8, high float8, low float8, close float8, volume float8, notional float8, vwap float8,"
    " buy_volume float8, sell_volume float8, n_trades int4, first_trade_ts timestamptz, last_trade_ts timestamptz,"
    " bid_open float8, bid_high float8, bid_low float8, bid_close float8,"
    " ask_open float8, ask_high float8, ask_low float8, ask_close float8,"
    " spread_bps float8, mid_close float8, imbalance float8, stale bool, gap bool, revision int4",
    revision_column="revision",
)
MARK_PRICE = _spec(
    "mark_price",
    key="exchange symbol ts",
    columns="exchange text, symbol text, ts timestamptz, recv_ts timestamptz, mark_price float8,"
    " index_price float8, est_settle_price float8, funding_rate float8, next_funding_ts timestamptz",
)
LIQUIDATIONS = _spec(
    "liquidations",
    key="exchange symbol ts side price qty",
    columns="exchange text, symbol text, ts timestamptz, recv_ts timestamptz, side text,"
    " price float8, avg_price float8, qty float8, status text",
)
METRICS = _spec(
    "metrics",
    key="source symbol metric ts",
    columns="source text, symbol text, metric text, ts timestamptz, recv_ts timestamptz,"
    " period_s int4, value float8",
)

COINGLASS_CALL_STATUS = _spec(
    "coinglass_call_status",
    key="ts symbol endpoint",
    columns="ts timestamptz, symbol text, endpoint text, ok bool, http_status int4, body_code text,"
    " error text, latency_ms float8",
)

GAPS = _spec(
    "gaps",
    key="exchange symbol stream start_ts end_ts",
    columns="exchange text, symbol text, stream text, start_ts timestamptz, end_ts timestamptz,"
    " from_id int8, to_id int8, status text, reason text, opened_at timestamptz, closed_at timestamptz,"
    " filled_count int4, revision int2",
    revision_column="revision",
)

SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (TRADES, QUOTES, MARKET_1S, MARK_PRICE, LIQUIDATIONS, METRICS, COINGLASS_CALL_STATUS, GAPS)
}
