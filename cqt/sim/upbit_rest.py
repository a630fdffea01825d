"""Upbit quotation REST (`https://api.upbit.com`): `/v1/trades/ticks` (backfill), `/v1/candles/seconds`,
`/v1/candles/days`, `/v1/ticker`, `/v1/market/all` (the listing), with the `Remaining-Req` header and 10
requests/s per group and IP.
Private endpoints answer 401 `no_authorization_ip` (the simulator never whitelists an IP)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import numpy as np
from aiohttp import web

from cqt.sim import upbit_payloads as up
from cqt.sim.config import SimConfig
from cqt.sim.faults import FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.ratelimit import WindowCounter
from cqt.sim.rest_common import http_fault, json_response
from cqt.sim.specs import upbit_asset
from cqt.sim.upbit_day import DAY_MS
from cqt.sim.upbit_ws import UpbitHub
from cqt.sim.view import now_ms
from cqt.sim.wire import Num, encode, fixed, upbit_decimal

CONTENT_TYPE = "application/json;charset=UTF-8"
_TO_RE = re.compile(r"^(\d{2}):?(\d{2}):?(\d{2})$")


class UpbitError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name = status, name


Handler = Callable[[web.Request], str]


class UpbitRest:
    def __init__(self, cfg: SimConfig, hub: UpbitHub, ledger: Ledger, plan: FaultPlan) -> None:
        self.cfg = cfg
        self.hub = hub
        self.ledger = ledger
        self.plan = plan
        self.markets = cfg.upbit_symbols
        self.counter = WindowCounter(1.0)

    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]:
        return [
            ("/v1/market/all", self._wrap("market", self.market_all)),
            ("/v1/trades/ticks", self._wrap("trade", self.ticks)),
            ("/v1/candles/seconds", self._wrap("candles", self.candles_seconds)),
            ("/v1/candles/days", self._wrap("candles", self.candles_days)),
            ("/v1/ticker", self._wrap("ticker", self.ticker)),
            ("/v1/accounts", self._unauthorized),
            ("/v1/orders", self._unauthorized),
        ]

    async def _unauthorized(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            up.error("no_authorization_ip", "This is not a verified IP."), 401, content_type=CONTENT_TYPE
        )

    def _wrap(self, group: str, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            ip = request.remote or "127.0.0.1"
            used = int(self.counter.add(f"{group}:{ip}", 1))
            remaining = max(0, self.cfg.upbit_rest_per_s - used)
            headers = {"Remaining-Req": f"group={group}; min=600; sec={remaining}", "limit-by-ip": "Yes"}
            if used > self.cfg.upbit_rest_per_s:
                body = up.error("too_many_requests", "Too many API requests.")
                return json_response(body, 429, headers, content_type=CONTENT_TYPE)
            failure = await http_fault(self.plan, "upbit", request, _fault_body)
            if failure is not None:
                failure.headers.update(headers)
                return failure
            try:
                return json_response(fn(request), headers=headers, content_type=CONTENT_TYPE)
            except UpbitError as exc:
                return json_response(
                    up.error(exc.name, str(exc)), exc.status, headers, content_type=CONTENT_TYPE
                )

        return handler

    def _market(self, request: web.Request, key: str = "market") -> str:
        market = request.query.get(key, "")
        if not market:
            raise UpbitError(400, "validation_error", f"{key} is required.")
        if market not in self.markets:
            raise UpbitError(404, "404", "Code not found")
        return market

    @staticmethod
    def _count(request: web.Request, maximum: int) -> int:
        raw = request.query.get("count", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= maximum:
            raise UpbitError(400, "validation_error", f"count must be between 1 and {maximum}.")
        return int(raw)

    def _prev_close(self, market: str, T: int) -> float:
        day = self.hub.days[self.markets.index(market)]
        if day is None:
            return 0.0
        return day.prev_close_by_day.get(T // DAY_MS, day.prev_close)

    def market_all(self, request: web.Request) -> str:
        # The simulated venue lists what it simulates: any other market gets 404 from every endpoint.
        raw = request.query.get("isDetails", request.query.get("is_details", "false"))
        details = raw.lower() == "true"
        return "[" + ",".join(up.market_entry(m, upbit_asset(m), details) for m in self.markets) + "]"

    def ticks(self, request: web.Request) -> str:
        market = self._market(request)
        count = self._count(request, 500)
        trades = self.ledger.upbit_trades(market)
        today = now_ms() // DAY_MS
        days_raw = request.query.get("days_ago", request.query.get("daysAgo"))
        day = today
        if days_raw is not None:
            if not days_raw.isdigit() or not 1 <= int(days_raw) <= 7:
                raise UpbitError(400, "validation_error", "days_ago must be between 1 and 7.")
            day = today - int(days_raw)
        keep = trades.T // DAY_MS == day
        to = request.query.get("to")
        if to:
            m = _TO_RE.match(to)
            if m is None:
                raise UpbitError(400, "validation_error", "to must be HHmmss or HH:mm:ss.")
            h, mi, s = (int(g) for g in m.groups())
            keep &= trades.T < day * DAY_MS + ((h * 60 + mi) * 60 + s) * 1000
        cursor = request.query.get("cursor")
        if cursor:
            if not cursor.isdigit():
                raise UpbitError(400, "validation_error", "cursor must be a sequential_id.")
            keep &= trades.seq_id < int(cursor)
        idx = np.flatnonzero(keep)[::-1][:count]
        return (
            "["
            + ",".join(
                up.rest_tick(
                    market,
                    int(trades.T[i]),
                    float(trades.price[i]),
                    float(trades.qty[i]),
                    bool(trades.is_ask[i]),
                    int(trades.seq_id[i]),
                    self._prev_close(market, int(trades.T[i])),
                )
                for i in idx
            )
            + "]"
        )

    @staticmethod
    def _to_ms(request: web.Request) -> int:
        raw = request.query.get("to")
        if not raw:
            return now_ms()
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise UpbitError(400, "validation_error", "to must be ISO 8601.") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)

    def _candles(self, request: web.Request, bucket_ms: int, daily: bool) -> str:
        market = self._market(request)
        count = self._count(request, 200)
        to = self._to_ms(request)
        trades = self.ledger.upbit_trades(market)
        trades = trades.take(trades.T < to)
        if not len(trades):
            return "[]"
        bucket = trades.T // bucket_ms
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], len(trades)]
        rows = []
        for lo, hi in list(zip(starts.tolist(), ends.tolist(), strict=True))[::-1][:count]:
            prices = trades.price[lo:hi].tolist()
            extra: dict[str, Num] | None = None
            if daily:
                prev = self._prev_close(market, int(trades.T[lo]))
                extra = {
                    "prev_closing_price": upbit_decimal(prev),
                    "change_price": upbit_decimal(prices[-1] - prev),
                    "change_rate": Num(fixed((prices[-1] - prev) / prev if prev else 0.0, 10)),
                }
            rows.append(
                up.candle(
                    market,
                    int(bucket[lo]) * bucket_ms,
                    prices,
                    trades.qty[lo:hi].tolist(),
                    int(trades.T[hi - 1]),
                    extra,
                )
            )
        return "[" + ",".join(rows) + "]"

    def candles_seconds(self, request: web.Request) -> str:
        return self._candles(request, 1000, daily=False)

    def candles_days(self, request: web.Request) -> str:
        return self._candles(request, DAY_MS, daily=True)

    def ticker(self, request: web.Request) -> str:
        raw = request.query.get("markets", "")
        markets = [m.strip() for m in raw.split(",") if m.strip()]
        if not markets:
            raise UpbitError(400, "validation_error", "markets is required.")
        if any(m not in self.markets for m in markets):
            raise UpbitError(404, "404", "Code not found")
        rows = []
        for market in markets:
            day = self.hub.days[self.markets.index(market)]
            if day is None:
                continue
            _, _, ymd, hms_compact = up.clock(day.last_T)
            _, _, ymd_kst, hms_kst = up.clock(day.last_T + 9 * 3_600_000)
            change, diff = day.change(day.last_price)
            rate = abs(diff) / day.prev_close if day.prev_close else 0.0
            sign = -1.0 if diff < 0 else 1.0
            rows.append(
                encode(
                    {
                        "market": market,
                        "trade_date": ymd,
                        "trade_time": hms_compact,
                        "trade_date_kst": ymd_kst,
                        "trade_time_kst": hms_kst,
                        "trade_timestamp": day.last_T,
                        "opening_price": upbit_decimal(day.open),
                        "high_price": upbit_decimal(day.high),
                        "low_price": upbit_decimal(day.low),
                        "trade_price": upbit_decimal(day.last_price),
                        "prev_closing_price": upbit_decimal(day.prev_close),
                        "change": change,
                        "change_price": upbit_decimal(abs(diff)),
                        "change_rate": Num(fixed(rate, 10)),
                        "signed_change_price": upbit_decimal(sign * abs(diff)),
                        "signed_change_rate": Num(fixed(sign * rate, 10)),
                        "trade_volume": upbit_decimal(day.last_qty),
                        "acc_trade_price": upbit_decimal(day.acc_price),
                        "acc_trade_price_24h": upbit_decimal(day.price_24h_base + day.acc_price),
                        "acc_trade_volume": upbit_decimal(day.acc_vol),
                        "acc_trade_volume_24h": upbit_decimal(day.vol_24h_base + day.acc_vol),
                        "highest_52_week_price": upbit_decimal(day.high_52w),
                        "highest_52_week_date": day.high_52w_date,
                        "lowest_52_week_price": upbit_decimal(day.low_52w),
                        "lowest_52_week_date": day.low_52w_date,
                        "timestamp": int(time.time() * 1000),
                    }
                )
            )
        return "[" + ",".join(rows) + "]"


def _fault_body(status: int) -> str:
    if status == 429:
        return up.error("too_many_requests", "Too many API requests.")
    return up.error("server_error", "Internal server error.")
