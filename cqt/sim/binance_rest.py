"""Binance USD-M REST (`https://fapi.binance.com`): market data endpoints with IP weight accounting.

Every answer carries `X-MBX-USED-WEIGHT-1M`. Above the weight limit a request gets 429 with `Retry-After`
(seconds to the next minute); an IP that keeps calling after `binance_429s_before_ban` 429s in one minute
is banned with 418 for `binance_ban_s`. Lists are oldest first, as Binance returns them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable

import numpy as np
from aiohttp import web

from cqt.sim import binance_payloads as bp
from cqt.sim.config import SimConfig
from cqt.sim.faults import FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.ratelimit import WindowCounter
from cqt.sim.rest_common import http_fault, json_response
from cqt.sim.specs import AssetSpec, asset_spec, binance_asset
from cqt.sim.view import MarketView, now_ms
from cqt.sim.wire import fixed

PERIODS_MS = {
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
_THIRTY_DAYS_MS = 30 * 86_400_000
_AGG_WINDOW_MS = 3_600_000


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _error_text(code: int, msg: str) -> str:
    return json.dumps({"code": code, "msg": msg}, separators=(",", ":"))


Handler = Callable[[web.Request], str]


class BinanceRest:
    def __init__(self, cfg: SimConfig, view: MarketView, ledger: Ledger, plan: FaultPlan) -> None:
        self.cfg = cfg
        self.view = view
        self.ledger = ledger
        self.plan = plan
        self.symbols = cfg.binance_symbols
        self.weights = WindowCounter(60.0)
        self.violations = WindowCounter(60.0)
        self.banned_until: dict[str, float] = {}

    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]:
        table: list[tuple[str, int, Handler]] = [
            ("/fapi/v1/exchangeInfo", 1, self.exchange_info),
            ("/fapi/v1/aggTrades", 20, self.agg_trades),
            ("/fapi/v1/premiumIndex", 1, self.premium_index),
            ("/fapi/v1/fundingRate", 1, self.funding_rate),
            ("/fapi/v1/openInterest", 1, self.open_interest),
            ("/futures/data/openInterestHist", 0, self.open_interest_hist),
            ("/futures/data/globalLongShortAccountRatio", 0, self.long_short_ratio),
            ("/futures/data/takerlongshortRatio", 0, self.taker_ratio),
            ("/futures/data/basis", 0, self.basis),
        ]
        return [(path, self._wrap(weight, fn)) for path, weight, fn in table]

    def _wrap(self, weight: int, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            ip = request.remote or "127.0.0.1"
            now = time.time()
            w = weight
            if fn == self.premium_index and "symbol" not in request.query:
                w = 10
            banned = self.banned_until.get(ip, 0.0)
            if banned > now:
                return self._too_many(ip, 418, banned - now, self.weights.used(ip))
            used = self.weights.add(ip, w)
            if used > self.cfg.binance_weight_limit:
                if self.violations.add(ip, 1) > self.cfg.binance_429s_before_ban:
                    self.banned_until[ip] = now + self.cfg.binance_ban_s
                    return self._too_many(ip, 418, self.cfg.binance_ban_s, used)
                return self._too_many(ip, 429, self.weights.window_end() - now, used)
            headers = {"X-MBX-USED-WEIGHT-1M": str(int(used))}
            failure = await http_fault(self.plan, "binance", request, self._fault_body)
            if failure is not None:
                failure.headers.update(headers)
                return failure
            try:
                body = fn(request)
            except BinanceError as exc:
                return json_response(_error_text(exc.code, exc.msg), status=exc.status, headers=headers)
            return json_response(body, headers=headers)

        return handler

    def _too_many(self, ip: str, status: int, retry_s: float, used: float) -> web.Response:
        limit = self.cfg.binance_weight_limit
        if status == 418:
            until = int((time.time() + retry_s) * 1000)
            msg = (
                f"Way too many requests; IP({ip}) banned until {until}. "
                "Please use the websocket for live updates to avoid bans."
            )
        else:
            msg = f"Too many requests; current limit of IP({ip}) is {limit} requests per minute."
        headers = {"Retry-After": str(max(1, math.ceil(retry_s))), "X-MBX-USED-WEIGHT-1M": str(int(used))}
        return json_response(_error_text(-1003, msg), status=status, headers=headers)

    @staticmethod
    def _fault_body(status: int) -> str:
        if status == 429:
            return _error_text(
                -1003, "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."
            )
        return _error_text(-1001, "Internal error; unable to process your request. Please try again.")

    # ---- parameter helpers -------------------------------------------------------------------------
    def _symbol(self, request: web.Request, key: str = "symbol") -> tuple[str, AssetSpec]:
        raw = request.query.get(key)
        if raw is None:
            raise BinanceError(
                -1102, f"Mandatory parameter '{key}' was not sent, was empty/null, or malformed."
            )
        symbol = raw.upper()
        if symbol not in self.symbols:
            raise BinanceError(-1121, "Invalid symbol.")
        return symbol, asset_spec(binance_asset(symbol))

    @staticmethod
    def _int(request: web.Request, key: str, default: int | None = None) -> int | None:
        raw = request.query.get(key)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise BinanceError(
                -1100, f"Illegal characters found in parameter '{key}'; legal range is '^[0-9]{{1,20}}$'."
            ) from None

    def _limit(self, request: web.Request, default: int, maximum: int) -> int:
        limit = self._int(request, "limit", default)
        assert limit is not None
        if not 1 <= limit <= maximum:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        return limit

    # ---- endpoints ---------------------------------------------------------------------------------
    def exchange_info(self, request: web.Request) -> str:
        # The simulated venue lists what it simulates: any other symbol gets -1121 from every endpoint.
        entries = [
            bp.exchange_symbol(s, binance_asset(s), asset_spec(binance_asset(s))) for s in self.symbols
        ]
        return bp.exchange_info(now_ms(), self.cfg.binance_weight_limit, entries)

    def agg_trades(self, request: web.Request) -> str:
        symbol, spec = self._symbol(request)
        limit = self._limit(request, 500, 1000)
        from_id = self._int(request, "fromId")
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        if start is not None and end is not None and end - start > _AGG_WINDOW_MS:
            raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
        trades = self.ledger.binance_trades(symbol)
        if from_id is not None:
            lo = int(np.searchsorted(trades.agg_id, from_id, side="left"))
            sel = trades.take(slice(lo, None))
            if start is not None:
                sel = sel.take(sel.T >= start)
            if end is not None:
                sel = sel.take(sel.T <= end)
            sel = sel.take(slice(0, limit))
        elif start is not None or end is not None:
            lo_t = start if start is not None else (end or 0) - _AGG_WINDOW_MS
            hi_t = end if end is not None else lo_t + _AGG_WINDOW_MS
            sel = trades.take((trades.T >= lo_t) & (trades.T <= hi_t)).take(slice(0, limit))
        else:
            sel = trades.take(slice(max(0, len(trades) - limit), None))
        return "[" + ",".join(bp.rest_agg_trades(spec, sel)) + "]"

    def _premium_row(self, symbol: str) -> str:
        last = self.ledger.mark_last(symbol)
        if last is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return (
            f'{{"symbol":"{symbol}","markPrice":"{fixed(float(last.mark[0]), 8)}",'
            f'"indexPrice":"{fixed(float(last.index[0]), 8)}",'
            f'"estimatedSettlePrice":"{fixed(float(last.settle[0]), 8)}",'
            f'"lastFundingRate":"{fixed(float(last.funding_rate[0]), 8)}","interestRate":"0.00010000",'
            f'"nextFundingTime":{int(last.next_funding[0])},"time":{int(last.E[0])}}}'
        )

    def premium_index(self, request: web.Request) -> str:
        if "symbol" in request.query:
            symbol, _ = self._symbol(request)
            return self._premium_row(symbol)
        return "[" + ",".join(self._premium_row(s) for s in self.symbols) + "]"

    def funding_rate(self, request: web.Request) -> str:
        symbols = [self._symbol(request)[0]] if "symbol" in request.query else list(self.symbols)
        limit = self._limit(request, 100, 1000)
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        now = now_ms()
        hi = end if end is not None else now
        lo = start if start is not None else hi - 1000 * 8 * 3_600_000
        rows = sorted(
            ((t, s, r, p) for s in symbols for t, r, p in self.view.fundings(s, lo, hi)), key=lambda x: x[0]
        )
        rows = rows[:limit] if start is not None else rows[-limit:]
        return (
            "["
            + ",".join(
                f'{{"symbol":"{s}","fundingTime":{t},"fundingRate":"{fixed(r, 8)}",'
                f'"markPrice":"{fixed(p, 8)}","rateType":"Regular"}}'
                for t, s, r, p in rows
            )
            + "]"
        )

    def open_interest(self, request: web.Request) -> str:
        symbol, spec = self._symbol(request)
        now = now_ms()
        oi = float(self.view.model.open_interest(symbol, np.array([now], dtype=np.int64))[0])
        return f'{{"symbol":"{symbol}","openInterest":"{fixed(oi, spec.qty_decimals)}","time":{now}}}'

    def _buckets(self, request: web.Request) -> tuple[np.ndarray, int]:
        period_raw = request.query.get("period")
        if period_raw not in PERIODS_MS:
            raise BinanceError(
                -1102, "Mandatory parameter 'period' was not sent, was empty/null, or malformed."
            )
        period = PERIODS_MS[period_raw]
        limit = self._limit(request, 30, 500)
        start = self._int(request, "startTime")
        end = self._int(request, "endTime")
        now = now_ms()
        last_complete = (now // period) * period - period
        hi = min(last_complete, end if end is not None else last_complete)
        lo = max(now - _THIRTY_DAYS_MS, start if start is not None else hi - (limit - 1) * period)
        first = -(-lo // period) * period
        starts = np.arange(first, hi + 1, period, dtype=np.int64)
        starts = starts[:limit] if start is not None else starts[-limit:]
        return starts, period

    def open_interest_hist(self, request: web.Request) -> str:
        symbol, _ = self._symbol(request)
        starts, period = self._buckets(request)
        oi = self.view.model.open_interest(symbol, starts + period)
        value = oi * self.view.price_at(symbol, starts + period)
        supply = 20_094_037.0 if symbol.startswith("BTC") else 120_700_000.0
        return _rows(
            f'{{"symbol":"{symbol}","sumOpenInterest":"{fixed(o, 8)}","sumOpenInterestValue":"{fixed(v, 8)}",'
            f'"CMCCirculatingSupply":"{fixed(supply, 8)}","timestamp":{t}}}'
            for o, v, t in zip(np.round(oi, 3).tolist(), value.tolist(), starts.tolist(), strict=True)
        )

    def long_short_ratio(self, request: web.Request) -> str:
        symbol, _ = self._symbol(request)
        starts, period = self._buckets(request)
        longs = np.round(self.view.model.long_account(symbol, starts + period), 4)
        return _rows(
            f'{{"symbol":"{symbol}","longAccount":"{fixed(lg, 4)}","longShortRatio":"{fixed(lg / (1 - lg), 4)}",'
            f'"shortAccount":"{fixed(1 - lg, 4)}","timestamp":{t}}}'
            for lg, t in zip(longs.tolist(), starts.tolist(), strict=True)
        )

    def taker_ratio(self, request: web.Request) -> str:
        symbol, _ = self._symbol(request)
        starts, period = self._buckets(request)
        buy, sell = self.view.taker_volumes(symbol, starts, period)
        return _rows(
            f'{{"buySellRatio":"{fixed(b / s if s else 0.0, 4)}","sellVol":"{fixed(s, 4)}",'
            f'"buyVol":"{fixed(b, 4)}","timestamp":{t}}}'
            for b, s, t in zip(buy.tolist(), sell.tolist(), starts.tolist(), strict=True)
        )

    def basis(self, request: web.Request) -> str:
        pair, spec = self._symbol(request, "pair")
        if request.query.get("contractType", "PERPETUAL").upper() != "PERPETUAL":
            raise BinanceError(
                -1104, "Not all sent parameters were read; read '3' parameter(s) but was sent '4'."
            )
        starts, period = self._buckets(request)
        futures = np.round(self.view.price_at(pair, starts + period), spec.price_decimals)
        rate = self.view.funding_rate_at(pair, starts + period)
        index = futures / (1 + rate * 3)
        return _rows(
            f'{{"indexPrice":"{fixed(i, 8)}","contractType":"PERPETUAL","basisRate":"{fixed(f / i - 1, 4)}",'
            f'"futuresPrice":"{fixed(f, spec.price_decimals)}","annualizedBasisRate":"",'
            f'"basis":"{fixed(f - i, 8)}","pair":"{pair}","timestamp":{t}}}'
            for i, f, t in zip(index.tolist(), futures.tolist(), starts.tolist(), strict=True)
        )


def _rows(rows: Iterable[str]) -> str:
    return "[" + ",".join(rows) + "]"
