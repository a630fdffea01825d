"""Coinglass v4 REST (`https://open-api-v4.coinglass.com`, header `CG-API-KEY`).

Errors come back with HTTP 200 and a string `code` in the body, as measured live: missing key 401, bad
key 401 "Invalid API key provided" (the documented code for key errors; one report saw "400" with this
message, clients must not rely on either), an interval finer than the key's plan allows 400 "Upgrade plan",
per-minute limit exceeded 429. Successful answers carry `API-KEY-MAX-LIMIT` and
`API-KEY-USE-LIMIT`. History rows are completed buckets only, `time` = bucket start (ms), oldest first.
The legacy v2 paths (`/public/v2/...`, header `coinglassSecret`) answer 30001 / 40001 as observed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import numpy as np
from aiohttp import web

from cqt.sim.config import COINGLASS_PLAN_LIMITS, COINGLASS_PLAN_MIN_INTERVAL_MS, SimConfig
from cqt.sim.faults import FaultPlan
from cqt.sim.ratelimit import WindowCounter
from cqt.sim.rest_common import http_fault, json_response
from cqt.sim.specs import binance_asset
from cqt.sim.view import MarketView, now_ms
from cqt.sim.wire import fixed

INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}
EXCHANGE_SHARE = {"Binance": 1.0, "OKX": 0.55, "Bybit": 0.6, "Bitget": 0.35, "Gate": 0.2}
_AGGREGATE_FACTOR = sum(EXCHANGE_SHARE.values())
_SUBSCRIPTION_EXPIRY_MS = 1_805_943_491_000


class CoinglassError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _body(code: str, msg: str) -> str:
    return json.dumps({"code": code, "msg": msg}, separators=(",", ":"))


def _ok(data: str, with_msg: bool = True) -> str:
    return '{"code":"0",' + ('"msg":"success",' if with_msg else "") + '"data":' + data + "}"


def _percent_text(x: float) -> str:
    text = fixed(x, 6).rstrip("0").rstrip(".")
    return text if text not in ("", "-") else "0"


def _ohlc_rows(starts: np.ndarray, probes: np.ndarray, text: Callable[[float], str]) -> str:
    """JSON array of `{time, open, high, low, close}` buckets; `probes[k, i]` samples bucket i in time order
    and values are rendered as strings by `text`, as Coinglass does."""
    return (
        "["
        + ",".join(
            f'{{"time":{t},"open":"{text(o)}","high":"{text(h)}","low":"{text(lw)}","close":"{text(c)}"}}'
            for t, o, h, lw, c in zip(
                starts.tolist(),
                probes[0].tolist(),
                probes.max(0).tolist(),
                probes.min(0).tolist(),
                probes[-1].tolist(),
                strict=True,
            )
        )
        + "]"
    )


Handler = Callable[[web.Request, str], str]


class CoinglassRest:
    def __init__(self, cfg: SimConfig, view: MarketView, plan: FaultPlan) -> None:
        self.cfg = cfg
        self.view = view
        self.plan = plan
        self.symbols = cfg.binance_symbols
        self.counter = WindowCounter(60.0)

    def routes(self) -> list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]:
        table: list[tuple[str, Handler]] = [
            ("/api/futures/open-interest/history", self.oi_history),
            ("/api/futures/open-interest/aggregated-history", self.oi_aggregated),
            ("/api/futures/funding-rate/history", self.funding_history),
            ("/api/futures/liquidation/history", self.liquidation_history),
            ("/api/futures/liquidation/aggregated-history", self.liquidation_aggregated),
            ("/api/futures/global-long-short-account-ratio/history", self.long_short_history),
            ("/api/user/account/subscription", self.subscription),
        ]
        routes = [(path, self._wrap(fn)) for path, fn in table]
        routes.append(("/public/v2/{tail:.*}", self._legacy_v2))
        return routes

    async def _legacy_v2(self, request: web.Request) -> web.StreamResponse:
        if "coinglassSecret" not in request.headers:
            return json_response(_body("30001", "API key missing."))
        return json_response(_body("40001", "Upgrade plan"))

    def _wrap(self, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            key = request.headers.get("CG-API-KEY")
            if not key:
                # A v4 call carrying only the retired v2 header was answered with code 400 (2025 report).
                code = "400" if "coinglassSecret" in request.headers else "401"
                return json_response(_body(code, "API key missing."))
            plan = self.cfg.coinglass_keys.get(key)
            if plan is None:
                return json_response(_body("401", "Invalid API key provided"))
            limit = self.cfg.coinglass_rate_limit or COINGLASS_PLAN_LIMITS[plan]
            used = int(self.counter.add(key, 1))
            headers = {"API-KEY-MAX-LIMIT": str(limit), "API-KEY-USE-LIMIT": str(min(used, limit))}
            if used > limit:
                return json_response(_body("429", "Too Many Requests"), headers=headers)
            failure = await http_fault(
                self.plan, "coinglass", request, lambda status: _body(str(status), "Server error")
            )
            if failure is not None:
                failure.headers.update(headers)
                return failure
            try:
                body = fn(request, plan)
            except CoinglassError as exc:
                return json_response(_body(exc.code, exc.msg), headers=headers)
            if self.plan.active and self.plan.take("malformed", "coinglass", path=request.path):
                body = self.plan.hostile_series(body)
            return json_response(body, headers=headers)

        return handler

    # ---- parameters --------------------------------------------------------------------------------
    def _pair(self, request: web.Request) -> tuple[str, float]:
        exchange = request.query.get("exchange", "")
        if exchange not in EXCHANGE_SHARE:
            raise CoinglassError("400", "exchange is invalid")
        symbol = request.query.get("symbol", "").upper()
        if symbol not in self.symbols:
            raise CoinglassError("400", "symbol is invalid")
        return symbol, EXCHANGE_SHARE[exchange]

    def _coin(self, request: web.Request) -> str:
        coin = request.query.get("symbol", "").upper()
        for symbol in self.symbols:
            if binance_asset(symbol) == coin:
                return symbol
        raise CoinglassError("400", "symbol is invalid")

    def _buckets(self, request: web.Request, plan: str) -> tuple[np.ndarray, int]:
        interval = request.query.get("interval", "")
        if interval not in INTERVALS_MS:
            raise CoinglassError("400", "interval is invalid")
        step = INTERVALS_MS[interval]
        if step < COINGLASS_PLAN_MIN_INTERVAL_MS[plan]:
            raise CoinglassError("400", "Upgrade plan")
        try:
            limit = int(request.query.get("limit", "1000"))
            start = int(request.query["start_time"]) if "start_time" in request.query else None
            end = int(request.query["end_time"]) if "end_time" in request.query else None
        except ValueError:
            raise CoinglassError("400", "parameter is invalid") from None
        limit = max(1, min(limit, 1000))
        last_complete = (now_ms() // step) * step - step
        hi = min(last_complete, end if end is not None else last_complete)
        lo = start if start is not None else hi - (limit - 1) * step
        starts = np.arange(-(-lo // step) * step, hi + 1, step, dtype=np.int64)
        return (starts[:limit] if start is not None else starts[-limit:]), step

    # ---- endpoints ---------------------------------------------------------------------------------
    def _oi_rows(self, symbol: str, starts: np.ndarray, step: int, factor: float, unit: str) -> str:
        probes = np.stack([starts + k * step // 4 for k in range(5)])
        oi = self.view.model.open_interest(symbol, probes.ravel()).reshape(probes.shape)
        if unit != "coin":
            oi = oi * self.view.price_at(symbol, probes.ravel()).reshape(probes.shape)
        oi = oi * factor
        decimals = 3 if unit == "coin" else 2
        return _ohlc_rows(starts, oi, lambda v: fixed(v, decimals))

    def oi_history(self, request: web.Request, plan: str) -> str:
        symbol, share = self._pair(request)
        starts, step = self._buckets(request, plan)
        return _ok(self._oi_rows(symbol, starts, step, share, request.query.get("unit", "usd")))

    def oi_aggregated(self, request: web.Request, plan: str) -> str:
        symbol = self._coin(request)
        starts, step = self._buckets(request, plan)
        return _ok(self._oi_rows(symbol, starts, step, _AGGREGATE_FACTOR, request.query.get("unit", "usd")))

    def funding_history(self, request: web.Request, plan: str) -> str:
        symbol, _ = self._pair(request)
        starts, step = self._buckets(request, plan)
        probes = np.stack([starts + k * step // 4 for k in range(5)])
        pct = 100 * self.view.funding_rate_at(symbol, probes.ravel()).reshape(probes.shape)
        return _ok(_ohlc_rows(starts, pct, _percent_text))

    def liquidation_history(self, request: web.Request, plan: str) -> str:
        symbol, share = self._pair(request)
        starts, step = self._buckets(request, plan)
        longs, shorts = self.view.liquidation_usd(symbol, starts, step)
        return _ok(
            "["
            + ",".join(
                f'{{"time":{t},"long_liquidation_usd":"{fixed(lg * share, 5)}",'
                f'"short_liquidation_usd":"{fixed(sh * share, 5)}"}}'
                for t, lg, sh in zip(starts.tolist(), longs.tolist(), shorts.tolist(), strict=True)
            )
            + "]"
        )

    def liquidation_aggregated(self, request: web.Request, plan: str) -> str:
        symbol = self._coin(request)
        starts, step = self._buckets(request, plan)
        longs, shorts = self.view.liquidation_usd(symbol, starts, step)
        return _ok(
            "["
            + ",".join(
                f'{{"time":{t},"aggregated_long_liquidation_usd":{fixed(lg * _AGGREGATE_FACTOR, 5)},'
                f'"aggregated_short_liquidation_usd":{fixed(sh * _AGGREGATE_FACTOR, 5)}}}'
                for t, lg, sh in zip(starts.tolist(), longs.tolist(), shorts.tolist(), strict=True)
            )
            + "]"
        )

    def long_short_history(self, request: web.Request, plan: str) -> str:
        symbol, _ = self._pair(request)
        starts, step = self._buckets(request, plan)
        longs = np.round(100 * self.view.model.long_account(symbol, starts + step), 2)
        return _ok(
            "["
            + ",".join(
                f'{{"time":{t},"global_account_long_percent":{fixed(lg, 2)},'
                f'"global_account_short_percent":{fixed(100 - lg, 2)},'
                f'"global_account_long_short_ratio":{fixed(lg / (100 - lg), 2)}}}'
                for t, lg in zip(starts.tolist(), longs.tolist(), strict=True)
            )
            + "]"
        )

    def subscription(self, request: web.Request, plan: str) -> str:
        # The official example body has no "msg"; kept that way.
        return _ok(
            f'{{"level":"{plan}","expire_time":{_SUBSCRIPTION_EXPIRY_MS},"expired":false}}', with_msg=False
        )
