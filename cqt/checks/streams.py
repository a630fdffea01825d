"""The catalogue of collected streams the altdata check judges, with the cadence each one should hold.

Stream -> table and expectations (decided here, from what the collectors write):

* Upbit ``trade`` and Binance ``aggTrade`` -> ``trades``. Lag from ``trades``; fill from ``market_1s``:
  a second counts when it has a bar row (any row: the bar pipeline emits every second between the first
  and the last bar, stale ones included), because a quiet market has seconds without trades and must not
  read as a broken collector. A dead trade stream shows as lag.
* Upbit ``orderbook`` and Binance ``bookTicker`` -> ``quotes``; ``markPrice@1s`` -> ``mark_price``:
  a second counts when it has at least one row (cadence 1 s).
* ``forceOrder`` -> ``liquidations``: an event stream (no liquidation for minutes is normal), so no lag
  or fill; judged by its connection being alive and no malformed frame.
* Binance metrics in ``metrics``: period series (``period_s`` set, ts = period end) have cadence
  ``period_s`` and may be older by their poll interval; the instants ``open_interest``, ``premium_index``
  and ``last_funding_rate`` are polled every ``binance_fast_every_s`` (cadence = that); ``funding_rate``
  (realised funding history) has the venue's 8-hour cadence and is polled hourly.
  ``basis_annualized`` is optional: the venue may send ``annualizedBasisRate`` as "" (protocols.md).
* Coinglass series in ``metrics``: cadence = ``COINGLASS_INTERVAL``, poll = ``COINGLASS_POLL_S``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cqt.collect import binance_parse as bp
from cqt.collect import coinglass_parse as cp
from cqt.collect.coinglass_poll import CoinglassTarget
from cqt.collect.collection import Tuning
from cqt.config import Settings

# The poller's default period ("5m") and funding cadence (BinancePoller defaults; not settings).
BINANCE_PERIOD_S = bp.PERIOD_S["5m"]
FUNDING_INTERVAL_S = 8 * 3600
FUNDING_POLL_S = 3600.0
BINANCE_INSTANTS = ("open_interest", "premium_index", "last_funding_rate")
OPTIONAL_METRICS = frozenset({"basis_annualized"})
# forceOrder shares the /market connection with aggTrade and markPrice@1s (cqt.collect.binance_ws).
FORCE_ORDER_CONNECTION = "binance/market"

FillKind = Literal["bars", "rows", "none"]


@dataclass(frozen=True)
class Stream:
    """One stream: where its rows are, how often they should come, where its status lives.

    ``cadence_s`` is the width of a fill slot; ``poll_s`` is how much later than its slot a polled row
    may legitimately arrive (0 for pushed streams).
    """

    label: str
    table: str
    filters: dict[str, str]
    cadence_s: float
    fill: FillKind
    poll_s: float = 0.0
    status: tuple[str, str] | None = None  # (exchange, stream) in stream_status
    gap_stream: str | None = None  # stream name in the gap ledger
    optional: bool = False

    @property
    def polled(self) -> bool:
        return self.table == "metrics"


def catalogue(settings: Settings, binance_symbols: list[str], upbit_markets: list[str]) -> list[Stream]:
    """Every stream of the selected symbols that the configured collectors should be delivering."""
    tuning = Tuning()
    out: list[Stream] = []
    for m in upbit_markets:
        key = {"exchange": "upbit", "symbol": m}
        out.append(
            Stream(
                f"upbit/{m}/trade", "trades", key, 1, "bars", status=("upbit", "trade"), gap_stream="trade"
            )
        )
        out.append(Stream(f"upbit/{m}/orderbook", "quotes", key, 1, "rows", status=("upbit", "orderbook")))
    for s in binance_symbols:
        key = {"exchange": "binance", "symbol": s}
        out += [
            Stream(
                f"binance/{s}/aggTrade",
                "trades",
                key,
                1,
                "bars",
                status=("binance", "aggTrade"),
                gap_stream="aggTrade",
            ),
            Stream(f"binance/{s}/bookTicker", "quotes", key, 1, "rows", status=("binance", "bookTicker")),
            Stream(
                f"binance/{s}/markPrice@1s", "mark_price", key, 1, "rows", status=("binance", "markPrice@1s")
            ),
            Stream(
                f"binance/{s}/forceOrder", "liquidations", key, 1, "none", status=("binance", "forceOrder")
            ),
        ]
        for series in bp.PERIOD_SERIES.values():
            for _, metric in series:
                out.append(_metric("binance", s, metric, BINANCE_PERIOD_S, tuning.binance_period_every_s))
        for metric in BINANCE_INSTANTS:
            out.append(_metric("binance", s, metric, tuning.binance_fast_every_s, 0.0))
        out.append(_metric("binance", s, "funding_rate", FUNDING_INTERVAL_S, FUNDING_POLL_S))
    if settings.coinglass_enabled and binance_symbols:
        interval_s = cp.INTERVAL_S[settings.coinglass_interval]
        for endpoint, symbol, _ in coinglass_target(settings).calls():
            for _, metric in cp.SERIES[endpoint]:
                out.append(_metric("coinglass", symbol, metric, interval_s, settings.coinglass_poll_s))
    return out


def coinglass_target(settings: Settings) -> CoinglassTarget:
    """What the Coinglass poller polls with these settings."""
    return CoinglassTarget(
        settings.coinglass_coin,
        settings.coinglass_pair,
        settings.coinglass_exchange,
        settings.coinglass_interval,
    )


def _metric(source: str, symbol: str, metric: str, cadence_s: float, poll_s: float) -> Stream:
    return Stream(
        f"{source}/{symbol}/{metric}",
        "metrics",
        {"source": source, "symbol": symbol, "metric": metric},
        cadence_s,
        "rows",
        poll_s=poll_s,
        optional=metric in OPTIONAL_METRICS,
    )
