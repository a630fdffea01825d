"""Coinglass v4 responses to call outcomes and metrics rows.

Coinglass answers key and plan errors with HTTP 200 and the real status in the body's *string* `code`
(reference/protocols.md §3.2): a call is ok only when HTTP is 200 **and** `code` is "0". Rows describe
buckets that start at `time` (ms; seconds are recognised by magnitude, as everywhere); they are stored
with `ts` = bucket end (docs/design.md §2). Values arrive as strings or numbers depending on the endpoint:
both are accepted. The docs' own examples carry times in 2052-2053: implausible times are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cqt.collect.rows import MalformedFrame, Row, field, mapping, ms_to_dt
from cqt.collect.wire_values import epoch_ms, optional_finite

INTERVAL_S = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400,
              "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "1w": 604800}  # fmt: skip

# endpoint path -> [(JSON field, metric name)]
SERIES: dict[str, list[tuple[str, str]]] = {
    "/api/futures/open-interest/aggregated-history": [
        ("open", "oi_agg_open"), ("high", "oi_agg_high"), ("low", "oi_agg_low"), ("close", "oi_agg_close"),
    ],
    "/api/futures/funding-rate/history": [
        ("open", "funding_open"), ("high", "funding_high"), ("low", "funding_low"), ("close", "funding_close"),
    ],
    "/api/futures/liquidation/history": [
        ("long_liquidation_usd", "liq_long_usd"), ("short_liquidation_usd", "liq_short_usd"),
    ],
    "/api/futures/global-long-short-account-ratio/history": [
        ("global_account_long_percent", "ls_long_pct"),
        ("global_account_short_percent", "ls_short_pct"),
        ("global_account_long_short_ratio", "ls_ratio"),
    ],
}  # fmt: skip


@dataclass(frozen=True)
class CallOutcome:
    """What `coinglass_call_status` records about one call."""

    ok: bool
    http_status: int
    body_code: str | None
    error: str | None


def outcome(http_status: int, body: Any) -> CallOutcome:
    """Judge a response: ok = HTTP 200 and body code "0" (a number 0 is tolerated, it has been seen)."""
    if not isinstance(body, dict):
        return CallOutcome(False, http_status, None, f"HTTP {http_status}: body is not a JSON object")
    code = body.get("code")
    code_s = None if code is None else str(code)
    if http_status == 200 and code_s == "0":
        return CallOutcome(True, http_status, code_s, None)
    msg = body.get("msg") or body.get("message") or "no message"
    return CallOutcome(False, http_status, code_s, f"HTTP {http_status}, code {code_s}: {msg}")


def series_rows(
    endpoint: str, symbol: str, interval: str, body: dict[str, Any], recv_ts: datetime
) -> list[Row]:
    """The `data` rows of a successful history response -> metrics rows with ts = bucket end."""
    if endpoint not in SERIES:
        raise ValueError(f"unknown Coinglass series endpoint {endpoint!r}")
    if interval not in INTERVAL_S:
        raise ValueError(f"unknown Coinglass interval {interval!r}")
    data = field(body, "data")
    if not isinstance(data, list):
        raise MalformedFrame(f"{endpoint}: data is not a list")
    period_s = INTERVAL_S[interval]
    rows = []
    for item in data:
        item = mapping(item, endpoint)
        end = ms_to_dt(epoch_ms(field(item, "time"), "time") + period_s * 1000)
        for key, metric in SERIES[endpoint]:
            value = optional_finite(item.get(key), key)
            if value is not None:
                rows.append(("coinglass", symbol, metric, end, recv_ts, period_s, value))
    return rows
