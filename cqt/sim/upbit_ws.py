"""Upbit quotation WebSocket (`/websocket/v1`): subscription arrays, DEFAULT / SIMPLE (and the *_LIST
variants), SNAPSHOT then REALTIME, `.N` order book depth, text `PING` -> `{"status":"UP"}`, idle close,
error frames. Every server frame is binary (UTF-8 JSON), as Upbit sends them.

Decisions where the docs are silent: a new subscription request replaces the previous set; an error frame
leaves the connection open; unknown market codes are accepted and silent; the idle close uses code 1000.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import numpy as np
from aiohttp import WSMsgType, web

from cqt.sim import upbit_payloads as up
from cqt.sim.config import SimConfig
from cqt.sim.conn import StreamConn
from cqt.sim.faults import Fault, FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.market import MarketModel
from cqt.sim.specs import asset_spec, upbit_asset, upbit_tick
from cqt.sim.tables import MarketBatch, UpbitBooks, UpbitTrades
from cqt.sim.upbit_day import UpbitDay
from cqt.sim.wire import OPCODE_BINARY

TYPES = ("trade", "ticker", "orderbook")
FORMATS = ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST")
DEPTHS = (1, 5, 15, 30)
MAX_DEPTH = 30
STATUS_UP = '{"status":"UP"}'


class RequestError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Sub:
    type: str
    codes: tuple[str, ...]  # as requested, e.g. "KRW-BTC.5"
    targets: tuple[tuple[int, int], ...]  # (market index, depth)
    only_snapshot: bool
    only_realtime: bool
    level: int


def _flag(obj: dict[str, object], snake: str, camel: str) -> bool:
    value = obj.get(snake, obj.get(camel, False))
    if not isinstance(value, bool):
        raise RequestError("INVALID_PARAM", f"{snake} must be a boolean")
    return value


def parse_request(text: str, markets: tuple[str, ...]) -> tuple[str, str, list[Sub]]:
    """(ticket, format, subscriptions) or RequestError with Upbit's error name."""
    try:
        req = json.loads(text)
    except ValueError:
        raise RequestError("WRONG_FORMAT", "The request format is invalid.") from None
    if not isinstance(req, list) or not req or not all(isinstance(o, dict) for o in req):
        raise RequestError("WRONG_FORMAT", "The request format is invalid.")
    tickets = [o["ticket"] for o in req if "ticket" in o]
    if not tickets or not isinstance(tickets[0], str) or not tickets[0]:
        raise RequestError("NO_TICKET", "The ticket field is missing.")
    fmt = "DEFAULT"
    subs: list[Sub] = []
    for obj in req:
        if "format" in obj:
            fmt = str(obj["format"]).upper()
            if fmt not in FORMATS:
                raise RequestError("INVALID_PARAM", f"Unsupported format: {obj['format']}")
        if "type" not in obj:
            continue
        kind = obj["type"]
        if kind not in TYPES:
            raise RequestError("INVALID_PARAM", f"Unsupported type: {kind}")
        codes = obj.get("codes")
        if not isinstance(codes, list) or not codes:
            raise RequestError("NO_CODES", "The codes field is missing.")
        level = obj.get("level", 0)
        if not isinstance(level, int | float) or isinstance(level, bool) or level < 0:
            raise RequestError("INVALID_PARAM", "level must be a non-negative number")
        targets = []
        for code in codes:
            if not isinstance(code, str):
                raise RequestError("INVALID_PARAM", "codes must be strings")
            base, _, depth_text = code.partition(".")
            depth = int(depth_text) if depth_text.isdigit() and int(depth_text) in DEPTHS else MAX_DEPTH
            if kind != "orderbook":
                depth = 0
            if base in markets:
                targets.append((markets.index(base), depth))
        subs.append(
            Sub(
                type=kind,
                codes=tuple(codes),
                targets=tuple(targets),
                only_snapshot=_flag(obj, "is_only_snapshot", "isOnlySnapshot"),
                only_realtime=_flag(obj, "is_only_realtime", "isOnlyRealtime"),
                level=int(level) if kind == "orderbook" else 0,
            )
        )
    if not subs:
        raise RequestError("NO_TYPE", "The type field is missing.")
    return tickets[0], fmt, subs


class UpbitConn(StreamConn):
    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        plan: FaultPlan,
        ledger: Ledger,
        max_backlog: int,
    ) -> None:
        super().__init__("upbit", request, ws, OPCODE_BINARY, plan, ledger, max_backlog)
        self.ticket = ""
        self.format = "DEFAULT"
        self.subs: list[Sub] = []

    @property
    def simple(self) -> bool:
        return self.format.startswith("SIMPLE")

    def wrap(self, payloads: list[str]) -> list[str]:
        if self.format.endswith("_LIST"):
            return ["[" + p + "]" for p in payloads]
        return payloads


class UpbitHub:
    def __init__(
        self, cfg: SimConfig, model: MarketModel, ledger: Ledger, plan: FaultPlan, start_ms: int
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.plan = plan
        self.markets = cfg.upbit_symbols
        self.conns: set[UpbitConn] = set()
        self.days: list[UpbitDay | None] = [None] * len(self.markets)
        self._model = model
        self._start_ms = start_ms
        self._profiles = [
            model.rng(f"upbit-book:{m}").lognormal(0.0, 0.8, MAX_DEPTH)
            * 4
            * asset_spec(upbit_asset(m)).mean_qty
            for m in self.markets
        ]

    def day(self, u: int, first_price: float) -> UpbitDay:
        day = self.days[u]
        if day is None:
            market = self.markets[u]
            spec = asset_spec(upbit_asset(market))
            daily = self._model.upbit_rate[u] * 0.5 * spec.mean_qty * 86_400
            day = UpbitDay.seeded(
                self._model.rng(f"upbit-day:{market}"),
                first_price,
                upbit_tick(first_price),
                self._start_ms,
                daily,
            )
            self.days[u] = day
        return day

    # ---- fan-out ---------------------------------------------------------------------------------
    def feed(self, batch: MarketBatch) -> None:
        wanted = {
            (s.type, u, d, s.level, c.simple)
            for c in self.conns
            for s in c.subs
            if not s.only_snapshot
            for u, d in s.targets
        }
        frames: dict[tuple[str, int, int, int, bool], list[str]] = {}
        self._trades(batch.upbit_trades, wanted, frames)
        self._books(batch.upbit_books, wanted, frames)
        for conn in list(self.conns):
            if not conn.alive or not conn.subs:
                continue
            out: list[str] = []
            for s in conn.subs:
                if s.only_snapshot:
                    continue
                for u, d in s.targets:
                    out.extend(frames.get((s.type, u, d, s.level, conn.simple), ()))
            conn.send(conn.wrap(out))

    def _trades(
        self,
        trades: UpbitTrades,
        wanted: set[tuple[str, int, int, int, bool]],
        frames: dict[tuple[str, int, int, int, bool], list[str]],
    ) -> None:
        withheld = np.zeros(len(trades), dtype=bool)
        if self.plan.active:
            for u, market in enumerate(self.markets):
                idx = np.flatnonzero(trades.sym == u)
                n = self.plan.take("gap", "upbit", symbol=market, n=len(idx))
                if n:
                    withheld[idx[:n]] = True
                    self.ledger.withhold("upbit", market, [int(s) for s in trades.seq_id[idx[:n]]])
        cols = zip(
            trades.sym.tolist(),
            trades.E.tolist(),
            trades.T.tolist(),
            trades.price.tolist(),
            trades.qty.tolist(),
            trades.is_ask.tolist(),
            trades.seq_id.tolist(),
            trades.best_ask.tolist(),
            trades.best_ask_size.tolist(),
            trades.best_bid.tolist(),
            trades.best_bid_size.tolist(),
            withheld.tolist(),
            strict=True,
        )
        for u, E, T, price, qty, is_ask, seq, ba, bas, bb, bbs, hidden in cols:
            day = self.day(u, price)
            day.on_trade(price, qty, is_ask, T)
            if hidden:
                continue
            market = self.markets[u]
            for simple in (False, True):
                if ("trade", u, 0, 0, simple) in wanted:
                    frames.setdefault(("trade", u, 0, 0, simple), []).append(
                        up.trade(
                            market, day, E, T, price, qty, is_ask, seq, (ba, bas, bb, bbs), "REALTIME", simple
                        )
                    )
                if ("ticker", u, 0, 0, simple) in wanted:
                    frames.setdefault(("ticker", u, 0, 0, simple), []).append(
                        up.ticker(market, day, E, "REALTIME", simple)
                    )

    def _books(
        self,
        books: UpbitBooks,
        wanted: set[tuple[str, int, int, int, bool]],
        frames: dict[tuple[str, int, int, int, bool], list[str]],
    ) -> None:
        keys = [k for k in wanted if k[0] == "orderbook"]
        if not keys or not len(books):
            return
        for i in range(len(books)):
            u = int(books.sym[i])
            for key in keys:
                if key[1] == u:
                    text = self.render_book(books, i, key[2], key[3], key[4], "REALTIME")
                    if text is not None:
                        frames.setdefault(key, []).append(text)

    def render_book(
        self, books: UpbitBooks, i: int, depth: int, level: int, simple: bool, stream_type: str
    ) -> str | None:
        u = int(books.sym[i])
        tick = float(books.tick[i])
        best_ask, best_bid = float(books.best_ask[i]), float(books.best_bid[i])
        unit = tick
        if level:
            if level % tick:
                return None  # Upbit sends nothing for a price unit the market does not support
            unit = float(level)
            best_ask, best_bid = np.ceil(best_ask / unit) * unit, np.floor(best_bid / unit) * unit
        grow = unit / tick
        profile = self._profiles[u][:depth]
        asks = np.round(profile * float(books.ask_scale[i]) * grow, 8).tolist()
        bids = np.round(profile[::-1] * float(books.bid_scale[i]) * grow, 8).tolist()
        return up.orderbook(
            self.markets[u],
            int(books.E[i]),
            float(best_ask),
            float(best_bid),
            unit,
            asks,
            bids,
            level,
            stream_type,
            simple,
        )

    def snapshots(self, conn: UpbitConn) -> list[str]:
        out: list[str] = []
        for s in conn.subs:
            if s.only_realtime:
                continue
            for u, depth in s.targets:
                market = self.markets[u]
                day = self.days[u]
                if s.type == "trade":
                    last = self.ledger.upbit_trades(market)
                    if len(last) and day is not None:
                        i = len(last) - 1
                        out.append(
                            up.trade(
                                market,
                                day,
                                int(last.E[i]),
                                int(last.T[i]),
                                float(last.price[i]),
                                float(last.qty[i]),
                                bool(last.is_ask[i]),
                                int(last.seq_id[i]),
                                (
                                    float(last.best_ask[i]),
                                    float(last.best_ask_size[i]),
                                    float(last.best_bid[i]),
                                    float(last.best_bid_size[i]),
                                ),
                                "SNAPSHOT",
                                conn.simple,
                            )
                        )
                elif s.type == "ticker" and day is not None:
                    out.append(up.ticker(market, day, day.last_T + 40, "SNAPSHOT", conn.simple))
                elif s.type == "orderbook":
                    book = self.ledger.upbit_book_last(market)
                    if book is not None:
                        text = self.render_book(book, 0, depth, s.level, conn.simple, "SNAPSHOT")
                        if text is not None:
                            out.append(text)
        return conn.wrap(out)

    def apply(self, fault: Fault) -> None:
        targets = [c for c in self.conns if c.targeted_by(fault)]
        for conn in targets[: fault.count or None]:
            conn.apply(fault)

    # ---- connection handler ------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = UpbitConn(request, ws, self.plan, self.ledger, self.cfg.max_client_backlog_bytes)
        if request.path.rstrip("/").endswith("/private") and "Authorization" not in request.headers:
            await ws.send_bytes(up.error("INVALID_AUTH", "Authentication information is invalid.").encode())
            await ws.close()
            return ws
        self.conns.add(conn)
        watchdog = asyncio.create_task(self._idle_watchdog(conn))
        try:
            async for msg in ws:
                conn.touch()
                if conn.stalled:
                    continue
                if msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    text = msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8", "replace")
                    await self._on_request(conn, text)
        except ConnectionError:
            pass
        finally:
            self.conns.discard(conn)
            watchdog.cancel()
        return ws

    async def _on_request(self, conn: UpbitConn, text: str) -> None:
        if text.strip() == "PING":
            await conn.ws.send_bytes(STATUS_UP.encode())
            return
        try:
            if '"LIST_SUBSCRIPTIONS"' in text:
                await conn.ws.send_bytes(self._list_subscriptions(conn, text).encode())
                return
            conn.ticket, conn.format, conn.subs = parse_request(text, self.markets)
        except RequestError as exc:
            await conn.ws.send_bytes(up.error(exc.name, str(exc)).encode())
            return
        snaps = self.snapshots(conn)
        if snaps:
            conn.send(snaps)

    @staticmethod
    def _list_subscriptions(conn: UpbitConn, text: str) -> str:
        try:
            req = json.loads(text)
            ticket = next((o["ticket"] for o in req if isinstance(o, dict) and "ticket" in o), None)
        except (ValueError, TypeError):
            raise RequestError("WRONG_FORMAT", "The request format is invalid.") from None
        if ticket is None:
            raise RequestError("NO_TICKET", "The ticket field is missing.")
        result = [{"type": s.type, "codes": list(s.codes)} for s in conn.subs]
        return json.dumps(
            {"method": "LIST_SUBSCRIPTIONS", "result": result, "ticket": ticket}, separators=(",", ":")
        )

    async def _idle_watchdog(self, conn: UpbitConn) -> None:
        limit = self.cfg.upbit_idle_timeout_s
        try:
            while conn.alive:
                await asyncio.sleep(min(1.0, limit / 4))
                if conn.stalled:  # a stalled server is dead air, it does not enforce anything either
                    continue
                if conn.loop.time() - conn.last_activity >= limit:
                    await conn.ws.close(code=1000, message=b"idle timeout")
                    return
        except (ConnectionError, RuntimeError):
            return


def add_routes(app: web.Application, hub: UpbitHub) -> None:
    app.router.add_get("/websocket/v1", hub.handle)
    app.router.add_get("/websocket/v1/private", hub.handle)
