"""The column dictionary: what every exported column means and its unit, defined once.

The export writes the entries of its own columns into the file's metadata (key ``columns``) and the
README's export section shows :func:`markdown_table` (a test keeps the two equal; print it with
``python -c "from cqt.export.columns import markdown_table; print(markdown_table())"``). Conventions: times are UTC instants (``t0``, ``label_ts``, ``touch_ts`` in
ms, ``pred_created_at`` in µs); returns, thresholds and rates are fractions (``0.001`` = 0.1 %) unless
the unit says percent or bps; prices are in the quote currency of their market (USDT for a Binance
USDⓈ-M ``*USDT`` symbol, KRW for Upbit), sizes in the base asset (the coin).

Metric columns exist only when the raw tables hold that metric in the range, so the dictionary lists
every metric the collectors store: ``bm_<metric>`` for Binance, ``cg_<symbol>_<metric>`` for Coinglass,
where ``<symbol>`` is the lower-case symbol the series is stored under (the coin for aggregated series,
e.g. ``cg_btc_oi_agg_close``, the pair for per-pair ones, e.g. ``cg_btcusdt_funding_close``). A metric
stored by something else gets the entry of :func:`describe`'s fallback, which says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cqt.export.spec import BAR_VALUES, LABEL_COLUMNS, MARK_VALUES, PRED_COLUMNS, UPBIT_VALUES

QUOTE = "quote currency"
BASE = "base asset"
FRACTION = "fraction"
UTC_MS = "UTC time (ms)"
SYMBOL = "<symbol>"


@dataclass(frozen=True)
class Column:
    """One column (``cg_<symbol>_...`` names stand for every Coinglass symbol) with its meaning and unit."""

    name: str
    meaning: str
    unit: str

    def as_json(self) -> dict[str, str]:
        return {"meaning": self.meaning, "unit": self.unit}


# value -> (meaning, unit): "{venue}" and "{quote}" become the venue's name and quote currency.
_BAR = {
    "open": ("first trade price of the latest usable {venue} 1 s bar", QUOTE),
    "high": ("highest trade price of that bar", QUOTE),
    "low": ("lowest trade price of that bar", QUOTE),
    "close": ("last trade price of that bar (carried from the previous close when it had no trade)", QUOTE),
    "volume": ("traded size in that second", BASE),
    "notional": ("traded value in that second (sum of price x size)", QUOTE),
    "vwap": ("volume-weighted average trade price of that second", QUOTE),
    "buy_volume": ("size bought by takers in that second", BASE),
    "sell_volume": ("size sold by takers in that second", BASE),
    "n_trades": ("number of trades in that second", "count"),
    "bid_close": ("best bid at the bar's end", QUOTE),
    "ask_close": ("best ask at the bar's end", QUOTE),
    "spread_bps": ("(ask - bid) / mid at the bar's end", "bps (1e-4)"),
    "mid_close": ("(bid + ask) / 2 at the bar's end", QUOTE),
    "imbalance": ("top-of-book (bid size - ask size) / (bid size + ask size) at the bar's end", "-1 .. 1"),
    "stale": ("1 = the bar had no trade (prices carried), 0 = it had trades", "0/1"),
}
_VENUES = (("bn", "Binance", BAR_VALUES), ("ub", "Upbit", UPBIT_VALUES))

_MARK = {
    "mark_price": ("Binance mark price of the latest usable markPrice@1s update", QUOTE),
    "index_price": ("index price (spot venues' average) of that update", QUOTE),
    "est_settle_price": ("estimated settlement price of that update", QUOTE),
    "funding_rate": (
        "funding rate of the current funding interval, from that update",
        f"{FRACTION} per interval",
    ),
}

# Binance metrics (``bm_``): the latest usable value; polled series describe the period ending at ``ts``.
BINANCE_METRICS = {
    "open_interest": ("open interest (GET /fapi/v1/openInterest, an instant)", f"{BASE} (contracts)"),
    "oi_hist": ("open interest at the end of the period (openInterestHist)", BASE),
    "oi_hist_value": ("open interest value at the end of the period (openInterestHist)", QUOTE),
    "global_long_short_ratio": ("accounts net long / accounts net short (globalLongShortAccountRatio)", "ratio"),
    "global_long_account": ("share of accounts net long (globalLongShortAccountRatio)", FRACTION),
    "global_short_account": ("share of accounts net short (globalLongShortAccountRatio)", FRACTION),
    "taker_buy_sell_ratio": ("taker buy size / taker sell size over the period (takerlongshortRatio)", "ratio"),
    "taker_buy_vol": ("taker buy size over the period (takerlongshortRatio)", BASE),
    "taker_sell_vol": ("taker sell size over the period (takerlongshortRatio)", BASE),
    "basis": ("futures price - index price at the end of the period (basis)", QUOTE),
    "basis_rate": ("basis / index price (basis)", FRACTION),
    "basis_annualized": ("basis rate annualised (basis)", f"{FRACTION} per year"),
    "premium_index": ("(mark - index) / index (premiumIndex, an instant)", FRACTION),
    "last_funding_rate": ("funding rate of the current interval (premiumIndex, an instant)", f"{FRACTION} per interval"),
    "funding_rate": ("realised funding rate at the latest funding time (fundingRate)", f"{FRACTION} per interval"),
}  # fmt: skip

# Coinglass series (``cg_<symbol>_``): buckets of COINGLASS_INTERVAL, stamped at the bucket's end.
COINGLASS_METRICS = {
    "oi_agg_open": ("open interest aggregated over exchanges at the bucket's start", "USD"),
    "oi_agg_high": ("highest aggregated open interest in the bucket", "USD"),
    "oi_agg_low": ("lowest aggregated open interest in the bucket", "USD"),
    "oi_agg_close": ("aggregated open interest at the bucket's end", "USD"),
    "funding_open": ("funding rate of the pair on COINGLASS_EXCHANGE at the bucket's start", "percent per interval"),
    "funding_high": ("highest funding rate in the bucket", "percent per interval"),
    "funding_low": ("lowest funding rate in the bucket", "percent per interval"),
    "funding_close": ("funding rate at the bucket's end", "percent per interval"),
    "liq_long_usd": ("long positions liquidated in the bucket", "USD"),
    "liq_short_usd": ("short positions liquidated in the bucket", "USD"),
    "ls_long_pct": ("share of accounts net long", "percent"),
    "ls_short_pct": ("share of accounts net short", "percent"),
    "ls_ratio": ("accounts net long / accounts net short", "ratio"),
}  # fmt: skip

_PRED = {
    "pred_p_up": ("stored prediction for (symbol, t0, horizon, --model): probability of UP", "probability 0 .. 1"),
    "pred_p_down": ("probability of DOWN of that prediction", "probability 0 .. 1"),
    "pred_p_none": ("probability of NONE of that prediction", "probability 0 .. 1"),
    "pred_r_t": ("the r_t that prediction used", FRACTION),
    "pred_created_at": ("when that prediction was written (its recv_ts, >= t0)", "UTC time (µs)"),
}  # fmt: skip

_LABEL = {
    "y": ("label: -1 = DOWN, 0 = NONE, 1 = UP (never NONE for a missing label: that row is dropped)", "-1/0/1"),
    "fwd_return": ("close(t0 + H) / close(t0) - 1 of the Binance bars", FRACTION),
    "r_t": ("the barrier the label was judged against (--r-policy)", FRACTION),
    "label_ts": ("when the label is known: t0 + H", UTC_MS),
    "touch_ts": ("triple barrier: end of the first bar touching a barrier; null when none did", UTC_MS),
    "ambiguous": ("triple barrier: that bar touched both barriers (resolved by its close)", "bool"),
    "horizon_s": ("label horizon H", "s"),
}  # fmt: skip


def _bar_columns() -> list[Column]:
    out = []
    for prefix, venue, values in _VENUES:
        for value in values:
            meaning, unit = _BAR[value]
            out.append(Column(f"{prefix}_{value}", meaning.format(venue=venue), unit))
    return out


COLUMNS: tuple[Column, ...] = (
    Column("t0", "decision time: a Binance 1 s bar end on the --every grid; features use rows with ts <= t0"
           " and recv_ts <= t0", UTC_MS),
    Column("symbol", "Binance USDⓈ-M symbol (its Upbit market is KRW- and its coin, e.g. KRW-BTC)", "text"),
    *_bar_columns(),
    *(Column(f"mk_{v}", *_MARK[v]) for v in MARK_VALUES),
    *(Column(f"bm_{m}", *entry) for m, entry in BINANCE_METRICS.items()),
    *(Column(f"cg_{SYMBOL}_{m}", *entry) for m, entry in COINGLASS_METRICS.items()),
    *(Column(c, *_PRED[c]) for c in PRED_COLUMNS),
    *(Column(c, *_LABEL[c]) for c in LABEL_COLUMNS),
)  # fmt: skip
_BY_NAME = {c.name: c for c in COLUMNS}
_COINGLASS = re.compile(r"^cg_[a-z0-9]+_(?P<metric>.+)$")


def describe(column: str) -> Column:
    """The entry of an exported column; a metric no collector stores gets an entry saying so."""
    if column in _BY_NAME:
        return _BY_NAME[column]
    m = _COINGLASS.match(column)
    if m and m["metric"] in COINGLASS_METRICS:
        return Column(column, *COINGLASS_METRICS[m["metric"]])
    if column.startswith(("bm_", "cg_")):
        return Column(
            column, "a metric stored by something other than cqt's collectors: see its source", "as stored"
        )
    raise KeyError(f"column {column!r} has no entry in the column dictionary")


def known(column: str) -> bool:
    """Whether ``column`` has its own entry (not the fallback for an unknown metric)."""
    return describe(column).unit != "as stored" or column in _BY_NAME


def dictionary(columns: list[str]) -> dict[str, dict[str, str]]:
    """The metadata document: ``{column: {meaning, unit}}`` for the file's columns."""
    return {c: describe(c).as_json() for c in columns}


def markdown_table() -> str:
    """The README's table: one row per bar value (Binance and Upbit together), metric and other column."""
    rows = ["| column | meaning | unit |", "|---|---|---|"]
    upbit = {f"ub_{v}" for v in UPBIT_VALUES}
    for c in COLUMNS:
        if c.name in upbit:
            continue
        name = f"`{c.name}`"
        value = c.name.removeprefix("bn_")
        if c.name.startswith("bn_") and f"ub_{value}" in upbit:
            name += f", `ub_{value}`"
        unit, meaning = c.unit, c.meaning
        if c.name.startswith("bn_"):
            unit = unit.replace(QUOTE, f"{QUOTE} (USDT; KRW for `ub_`)" if f"ub_{value}" in upbit else "USDT")
            meaning = meaning.replace("Binance 1 s bar", "Binance (`bn_`) / Upbit (`ub_`) 1 s bar")
        rows.append(f"| {name} | {meaning} | {unit} |")
    return "\n".join(rows)
