"""Binance USD-M WebSocket: routes `/market` and `/public`, raw (`/ws/...`) and combined (`/stream?streams=`)
modes, live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY, server pings,
the 24 h lifetime, and close 1008 above 10 incoming messages per second.

Decisions where the docs are silent: a stream asked on the wrong route (or on the retired legacy `/ws`,
`/stream` paths) is accepted and stays silent, as reported for the legacy URLs; unknown stream names are
accepted and silent; the lifetime close uses code 1000.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass

import numpy as np
from aiohttp import WSMsgType, web

from cqt.sim import binance_payloads as bp
from cqt.sim.config import SimConfig
from cqt.sim.conn import StreamConn
from cqt.sim.faults import Fault, FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.specs import AssetSpec, asset_spec, binance_asset
from cqt.sim.tables import BinanceTrades, Liquidations, MarketBatch
from cqt.sim.wire import OPCODE_TEXT

MARKET, PUBLIC, LEGACY = "market", "public", "legacy"
_ROUTE_OF_KIND = {
    "aggtrade": MARKET,
    "markprice": MARKET,
    "markprice@1s": MARKET,
    "forceorder": MARKET,
    "!markprice@arr": MARKET,
    "!markprice@arr@1s": MARKET,
    "!forceorder@arr": MARKET,
    "bookticker": PUBLIC,
    "!bookticker": PUBLIC,
}
_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
_MARK_SLOW_MS = 3000
_LIQ_WINDOW_MS = 1000


@dataclass(frozen=True)
class Stream:
    name: str  # as the client spelled it (echoed in envelopes and LIST_SUBSCRIPTIONS)
    kind: str  # a key of _ROUTE_OF_KIND, or "" for names this simulator never feeds
    sym: int  # symbol index, -1 for all-market streams


def parse_stream(name: str, symbols: tuple[str, ...], route: str) -> Stream:
    lower = name.lower()
    if lower.startswith("!"):
        kind, sym = lower, -1
    else:
        base, _, kind = lower.partition("@")
        sym = symbols.index(base.upper()) if base.upper() in symbols else -2
    if _ROUTE_OF_KIND.get(kind) != route or sym == -2:
        kind = ""
    return Stream(name=name, kind=kind, sym=sym)


class BinanceConn(StreamConn):
    def __init__(
        self,
        route: str,
        combined: bool,
        request: web.Request,
        ws: web.WebSocketResponse,
        plan: FaultPlan,
        ledger: Ledger,
        max_backlog: int,
    ) -> None:
        super().__init__("binance", request, ws, OPCODE_TEXT, plan, ledger, max_backlog)
        self.route = route
        self.combined = combined
        self.streams: dict[str, Stream] = {}
        self.recent_msgs: deque[float] = deque()
        self.last_pong = self.opened

    def subscribe(self, names: list[str], symbols: tuple[str, ...]) -> None:
        for name in names:
            self.streams[name.lower()] = parse_stream(name, symbols, self.route)


class BinanceHub:
    """Turns market batches into frames for every open Binance stream connection."""

    def __init__(self, cfg: SimConfig, ledger: Ledger, plan: FaultPlan) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.plan = plan
        self.symbols = cfg.binance_symbols
        self.specs: tuple[AssetSpec, ...] = tuple(asset_spec(binance_asset(s)) for s in self.symbols)
        self.conns: set[BinanceConn] = set()
        self._liq_pending: dict[int, tuple[Liquidations, int]] = {}

    # ---- fan-out ---------------------------------------------------------------------------------
    def feed(self, batch: MarketBatch, now_ms: int) -> None:
        trades = self._without_gaps(batch.binance_trades)
        frames: dict[tuple[str, int], list[str]] = {}
        wanted = {(s.kind, s.sym) for c in self.conns for s in c.streams.values() if s.kind}
        kinds = {k for k, _ in wanted}
        if "aggtrade" in kinds:
            for j, sym in enumerate(self.symbols):
                if ("aggtrade", j) in wanted:
                    frames[("aggtrade", j)] = bp.agg_trades(sym, self.specs[j], trades.take(trades.sym == j))
        if kinds & {"bookticker", "!bookticker"}:
            q = batch.binance_quotes
            per_sym = [
                bp.book_tickers(s, self.specs[j], q.take(q.sym == j)) for j, s in enumerate(self.symbols)
            ]
            for j, rendered in enumerate(per_sym):
                frames[("bookticker", j)] = rendered
            order = np.lexsort((q.sym, q.E))
            by_sym = [iter(r) for r in per_sym]
            frames[("!bookticker", -1)] = [next(by_sym[int(q.sym[i])]) for i in order]
        if kinds & {"markprice", "markprice@1s", "!markprice@arr", "!markprice@arr@1s"}:
            self._mark_frames(batch, frames)
        liq = self._liquidation_frames(batch.liquidations, now_ms)
        if liq:
            frames[("!forceorder@arr", -1)] = [f for _, _, f in liq]
            for j in range(len(self.symbols)):
                frames[("forceorder", j)] = [f for _, s, f in liq if s == j]
        for conn in list(self.conns):
            if not conn.alive or not conn.streams:
                continue
            out: list[str] = []
            for stream in conn.streams.values():
                got = frames.get((stream.kind, stream.sym))
                if not got:
                    continue
                if conn.combined:
                    out.extend(bp.envelope(stream.name, r) for r in got)
                else:
                    out.extend(got)
            conn.send(out)

    def _without_gaps(self, trades: BinanceTrades) -> BinanceTrades:
        if not self.plan.active or not len(trades):
            return trades
        keep = np.ones(len(trades), dtype=bool)
        for j, sym in enumerate(self.symbols):
            idx = np.flatnonzero(trades.sym == j)
            n = self.plan.take("gap", "binance", symbol=sym, n=len(idx))
            if n:
                keep[idx[:n]] = False
                self.ledger.withhold("binance", sym, [int(a) for a in trades.agg_id[idx[:n]]])
        return trades.take(keep)

    def _mark_frames(self, batch: MarketBatch, frames: dict[tuple[str, int], list[str]]) -> None:
        marks = batch.marks
        rendered = [bp.mark_price(self.symbols[int(marks.sym[i])], marks, i) for i in range(len(marks))]
        slow = (marks.E % _MARK_SLOW_MS) == 0
        for j in range(len(self.symbols)):
            frames[("markprice@1s", j)] = [
                r for r, s in zip(rendered, marks.sym.tolist(), strict=True) if s == j
            ]
            frames[("markprice", j)] = [
                r for r, s, k in zip(rendered, marks.sym.tolist(), slow.tolist(), strict=True) if s == j and k
            ]
        for kind, mask in (("!markprice@arr@1s", np.ones(len(marks), bool)), ("!markprice@arr", slow)):
            arrays = []
            for e in np.unique(marks.E[mask]):
                arrays.append(
                    "[" + ",".join(rendered[i] for i in np.flatnonzero(mask & (marks.E == e))) + "]"
                )
            frames[(kind, -1)] = arrays

    def _liquidation_frames(self, liq: Liquidations, now_ms: int) -> list[tuple[int, int, str]]:
        """Binance pushes at most one liquidation per symbol per 1000 ms: the latest of the window."""
        out: list[tuple[int, int, str]] = []
        for i in range(len(liq)):
            j = int(liq.sym[i])
            window = int(liq.T[i]) // _LIQ_WINDOW_MS
            pending = self._liq_pending.get(j)
            if pending is not None and pending[1] < window:
                out.append(self._flush(j, *pending))
            self._liq_pending[j] = (liq.take(slice(i, i + 1)), window)
        for j, (row, window) in list(self._liq_pending.items()):
            if now_ms >= (window + 2) * _LIQ_WINDOW_MS:
                out.append(self._flush(j, row, window))
                del self._liq_pending[j]
        out.sort(key=lambda item: item[0])
        return out

    def _flush(self, j: int, row: Liquidations, window: int) -> tuple[int, int, str]:
        event = max(int(row.E[0]), (window + 1) * _LIQ_WINDOW_MS)
        return event, j, bp.force_order(self.symbols[j], self.specs[j], row, 0, event)

    def apply(self, fault: Fault) -> None:
        targets = [c for c in self.conns if c.targeted_by(fault)]
        for conn in targets[: fault.count or None]:
            conn.apply(fault)

    # ---- connection handler ------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        route = request.match_info.get("route", LEGACY)
        combined = request.path.rstrip("/").endswith("/stream")
        raw = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        names = [n for n in raw.split("/") if n]
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = BinanceConn(
            route, combined, request, ws, self.plan, self.ledger, self.cfg.max_client_backlog_bytes
        )
        conn.subscribe(names, self.symbols)
        self.conns.add(conn)
        keeper = asyncio.create_task(self._keepalive(conn))
        try:
            async for msg in ws:
                if conn.stalled:
                    continue
                if self._too_chatty(conn):
                    await ws.close(code=1008, message=b"Too many requests")
                    break
                if msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    conn.last_pong = conn.loop.time()
                elif msg.type == WSMsgType.TEXT:
                    reply = self._on_request(conn, msg.data)
                    if reply is not None:
                        await ws.send_str(reply)
        except ConnectionError:
            pass
        finally:
            self.conns.discard(conn)
            keeper.cancel()
        return ws

    def _too_chatty(self, conn: BinanceConn) -> bool:
        now = conn.loop.time()
        conn.recent_msgs.append(now)
        while conn.recent_msgs and conn.recent_msgs[0] <= now - 1.0:
            conn.recent_msgs.popleft()
        return len(conn.recent_msgs) > self.cfg.binance_max_client_msgs_per_s

    async def _keepalive(self, conn: BinanceConn) -> None:
        cfg = self.cfg
        step = min(cfg.binance_ping_interval_s, cfg.binance_lifetime_s, 1.0)
        next_ping = conn.opened + cfg.binance_ping_interval_s
        try:
            while conn.alive:
                await asyncio.sleep(step)
                now = conn.loop.time()
                if now - conn.opened >= cfg.binance_lifetime_s:
                    await conn.ws.close(code=1000, message=b"connection lifetime reached")
                    return
                if conn.stalled:
                    continue
                if now - conn.last_pong >= cfg.binance_pong_timeout_s:
                    await conn.ws.close(code=1008, message=b"pong timeout")
                    return
                if now >= next_ping:
                    next_ping = now + cfg.binance_ping_interval_s
                    await conn.ws.ping(str(int(now * 1000)).encode())
        except (ConnectionError, RuntimeError):
            return

    def _on_request(self, conn: BinanceConn, text: str) -> str | None:
        try:
            req = json.loads(text)
        except ValueError as exc:
            return _error(3, f"Invalid JSON: {exc}")
        if not isinstance(req, dict) or "method" not in req:
            return _error(2, f"Invalid request: missing field `method` at line 1 column {len(text)}")
        req_id = req.get("id")
        if req_id is not None and (not isinstance(req_id, int) or isinstance(req_id, bool) or req_id < 0):
            return _error(2, "Invalid request: request ID must be an unsigned integer")
        method = req["method"]
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return _error(1, "Invalid value type: expected Vec<String>")
            if len(conn.streams) + len(params) > 1024 and method == "SUBSCRIBE":
                return _error(2, "Invalid request: too many parameters")
            if method == "SUBSCRIBE":
                conn.subscribe(params, self.symbols)
            else:
                for name in params:
                    conn.streams.pop(name.lower(), None)
            return _result(None, req_id)
        if method == "LIST_SUBSCRIPTIONS":
            return _result([s.name for s in conn.streams.values()], req_id)
        if method == "SET_PROPERTY":
            if not (isinstance(params, list) and len(params) == 2 and params[0] == "combined"):
                return _error(0, "Unknown property")
            if not isinstance(params[1], bool):
                return _error(1, "Invalid value type: expected Boolean")
            conn.combined = params[1]
            return _result(None, req_id)
        if method == "GET_PROPERTY":
            if params != ["combined"]:
                return _error(0, "Unknown property")
            return _result(conn.combined, req_id)
        position = text.find(str(method)) + len(str(method)) + 1
        return _error(
            2,
            f"Invalid request: unknown variant `{method}`, expected one of {_METHODS} at line 1 column {position}",
        )


def _error(code: int, msg: str) -> str:
    return json.dumps({"code": code, "msg": msg}, separators=(",", ":"))


def _result(result: object, req_id: object) -> str:
    return json.dumps({"result": result, "id": req_id}, separators=(",", ":"))


def add_routes(app: web.Application, hub: BinanceHub) -> None:
    routed = "/{route:market|public}"
    app.router.add_get(routed + "/stream", hub.handle)
    app.router.add_get(routed + "/ws", hub.handle)
    app.router.add_get(routed + "/ws/{streams:.+}", hub.handle)
    app.router.add_get("/stream", hub.handle)
    app.router.add_get("/ws/{streams:.+}", hub.handle)
