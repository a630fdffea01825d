"""Upbit quotation WebSocket collector: trade, orderbook (best level) and ticker for a set of KRW markets on
one connection, with every trade stored once and holes found and filled from REST.

Subscription (sent on every connect, fresh uuid ticket): trade, orderbook (`KRW-BTC.5`) and ticker for all
markets, format DEFAULT. DEFAULT rather than SIMPLE because its keys are the REST field names, so logged
samples of bad frames read without a key table; at Upbit's rates (tens of messages per second per
market) the ~40 % SIMPLE saving buys nothing. Ticker frames are counted, not stored (no table holds them).

Upbit has no contiguous trade ids (`sequential_id` is unique but not ordered), so completeness is
checked by time and against REST (docs/design.md §5):
- de-duplication: a bounded set of recently seen (market, sequential_id) lets each trade through once,
  whatever delivered it (duplicate frames, REST overlap); older trades rely on the table's natural key.
- reconnect/stall: the span from the newest trade before a connection ended to the first trade after the
  reconnect is a gap, filled from `/v1/trades/ticks` (cursor paging) and closed.
- REST comparison: every `compare_every_s` the trades REST holds for the span since the last comparison
  (up to `gap_grace_ms` before the newest streamed trade) are compared with what the stream delivered;
  trades the stream never delivered are a gap, stored and closed filled. A span being filled after a
  reconnect is left to that fill. At shutdown a last comparison runs up to the newest streamed trade.
- a gap Upbit no longer serves (older than 7 days) or that REST keeps failing on closes `unfillable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from cqt.collect import upbit_parse as up
from cqt.collect.frame_errors import count_malformed
from cqt.collect.gap_ledger import Gap, GapLedger
from cqt.collect.rows import MalformedFrame, Row, Sink, dt_to_ms, field
from cqt.collect.upbit_backfill import trades_between
from cqt.collect.wire_values import epoch_ms, text
from cqt.collect.ws_session import WsSession, run_linked

log = logging.getLogger(__name__)

STREAMS = ("trade", "orderbook", "ticker")
DEDUP_WINDOW = timedelta(minutes=15)


class RecentTrades:
    """(market, sequential_id) of trades within `window` (trade time) of the newest one seen."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.newest: datetime | None = None
        self._seen: set[tuple[str, int]] = set()
        self._by_time: list[tuple[datetime, str, int]] = []

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def horizon(self) -> datetime | None:
        """Trades older than this are forgotten: their absence from the set proves nothing."""
        return None if self.newest is None else self.newest - self.window

    def first_time(self, market: str, seq_id: int, ts: datetime) -> bool:
        """Remember the trade; True unless it was already seen."""
        key = (market, seq_id)
        if key in self._seen:
            return False
        self._seen.add(key)
        heapq.heappush(self._by_time, (ts, market, seq_id))
        if self.newest is None or ts > self.newest:
            self.newest = ts
        horizon = self.newest - self.window
        while self._by_time[0][0] < horizon:
            _, old_market, old_id = heapq.heappop(self._by_time)
            self._seen.discard((old_market, old_id))
        return True


class UpbitWsCollector:
    """Streams `markets` into `sink(table, rows)` ("trades", "quotes"); records gaps in `ledger`."""

    def __init__(
        self,
        ws_url: str,
        rest_url: str,
        markets: list[str],
        sink: Sink,
        ledger: GapLedger,
        *,
        stall_timeout_s: float = 30.0,
        keepalive_s: float = 60.0,
        compare_every_s: float = 10.0,
        gap_grace_ms: int = 2_000,
        orderbook_depth: int = 5,
        resume_from: Mapping[str, datetime] | None = None,
        refill: Sequence[Gap] = (),
    ) -> None:
        self.markets = [m.upper() for m in markets]
        self.rest_url = rest_url.rstrip("/")
        self.sink = sink
        self.ledger = ledger
        self.compare_every_s = compare_every_s
        self.gap_grace = timedelta(milliseconds=gap_grace_ms)
        self.orderbook_depth = orderbook_depth
        self.malformed: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()  # (stream, kind) of every skipped frame
        self.messages: Counter[str] = Counter()
        self.last_event_ms: dict[str, int] = {}
        self.seen = RecentTrades(DEDUP_WINDOW)
        self._snapshot_seq = up.SnapshotSeq()
        self._ws_first: dict[str, datetime] = {}
        self._ws_newest: dict[str, datetime] = {}
        self._compared_to: dict[str, datetime] = {}
        # An earlier run's newest stored trade time per market: the span up to this run's first trade is a
        # gap, as after a reconnect (docs/design.md §5.3).
        self._outage_from: dict[str, datetime] = {
            m: t for m, t in (resume_from or {}).items() if m in self.markets
        }
        self._outage_reason = {m: "since the previous run" for m in self._outage_from}
        # Gaps an earlier run left open: filled once this collector runs, with its first trade.
        self._refill: dict[str, list[Gap]] = {}
        for gap in refill:
            if gap.symbol in self.markets:
                self._refill.setdefault(gap.symbol, []).append(gap)
        self._filling: dict[str, list[Gap]] = {m: [] for m in self.markets}
        self._locks = {m: asyncio.Lock() for m in self.markets}
        self._fills: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._connected_before = False
        self._stop = asyncio.Event()
        self.sessions = [
            WsSession(
                "upbit",
                ws_url,
                self._on_frame,
                on_open=self._subscribe,
                stall_timeout_s=stall_timeout_s,
                keepalive=(keepalive_s, "PING"),
            )
        ]

    def session_for(self, stream: str) -> WsSession:
        """The connection that carries `stream`: Upbit sends every type on one."""
        return self.sessions[0]

    def subscription(self) -> str:
        """The request sent on every connect: all three types for all markets, a fresh ticket."""
        return json.dumps(
            [
                {"ticket": str(uuid.uuid4())},
                {"type": "trade", "codes": self.markets},
                {"type": "orderbook", "codes": [f"{m}.{self.orderbook_depth}" for m in self.markets]},
                {"type": "ticker", "codes": self.markets},
                {"format": "DEFAULT"},
            ],
            separators=(",", ":"),
        )

    async def run(self) -> None:
        """Stream, compare and fill until `stop()`; then finish the fills and compare one last time. If the
        connection or the comparison fails, both end; the fills in flight still finish on this HTTP session."""
        async with aiohttp.ClientSession() as http:
            self._http = http
            try:
                try:
                    await run_linked(*(s.run() for s in self.sessions), self._compare_loop())
                finally:
                    await self._finish_fills()
                for market in self.markets:
                    await self.compare(market, timedelta(0))
            finally:
                self._http = None

    def stop(self) -> None:
        self._stop.set()
        for session in self.sessions:
            session.stop()

    # ---- frames ----------------------------------------------------------------------------------
    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self._connected_before:
            for market, newest in self._ws_newest.items():
                self._outage_from.setdefault(market, newest)
        self._connected_before = True
        await ws.send_str(self.subscription())

    def _on_frame(self, data: str | bytes, recv_ts: datetime) -> None:
        stream = "unparsed"
        try:
            frame = json.loads(data)
            if not isinstance(frame, dict):
                raise MalformedFrame("not a JSON object")
            if "error" in frame:
                stream = "error"
                error = frame["error"]
                raise MalformedFrame(
                    f"error frame {error.get('name') if isinstance(error, dict) else error!r}"
                )
            if frame.get("status") == "UP":
                self.messages["status"] += 1
                return
            payload = up.normalise(frame)
            kind = payload.get("type")
            stream = kind if isinstance(kind, str) and kind in STREAMS else "unexpected"
            self._dispatch(stream, payload, recv_ts)
            self.messages[stream] += 1
        except Exception as exc:  # no frame may end the read loop (docs/design.md §5)
            count_malformed(log, "upbit", self.malformed, self.rejected, stream, exc, data)

    def _dispatch(self, stream: str, payload: dict[str, Any], recv_ts: datetime) -> None:
        if stream == "trade":
            row = up.trade(payload, recv_ts)
            self._subscribed(stream, row[1])
            self.last_event_ms[stream] = dt_to_ms(row[3])
            self._on_ws_trade(row)
        elif stream == "orderbook":
            quote = up.orderbook_top(payload, recv_ts)
            self._subscribed(stream, quote[1])
            quote = self._snapshot_seq.number(quote)
            self.last_event_ms[stream] = dt_to_ms(quote[3])
            self.sink("quotes", [quote])
        elif stream == "ticker":
            self._subscribed(stream, text(field(payload, "code"), "code"))
            self.last_event_ms[stream] = epoch_ms(field(payload, "timestamp"), "timestamp")
        else:
            raise MalformedFrame(f"unexpected message type {payload.get('type')!r}")

    def _subscribed(self, stream: str, market: str) -> None:
        if market not in self._locks:
            raise MalformedFrame(f"{stream} for unsubscribed market {market}", "unsubscribed")

    def _on_ws_trade(self, row: Row) -> None:
        market, ts = row[1], row[3]
        self._ws_first.setdefault(market, ts)
        if market not in self._ws_newest or ts > self._ws_newest[market]:
            self._ws_newest[market] = ts
        fills = self._refill.pop(market, [])
        outage_from = self._outage_from.pop(market, None)
        if outage_from is not None:
            reason = self._outage_reason.pop(market, "reconnect")
            fills.append(Gap(up.EXCHANGE, market, "trade", outage_from, max(ts, outage_from), reason=reason))
        for gap in fills:
            self.ledger.open(gap)
            self._filling[market].append(gap)
            task = asyncio.create_task(self._fill(gap))
            self._fills.add(task)
            task.add_done_callback(self._fills.discard)
        self._accept([row])

    def _accept(self, rows: list[Row]) -> int:
        """Sink the trades not seen before; how many that was."""
        new = [r for r in rows if self.seen.first_time(r[1], r[2], r[3])]
        if new:
            self.sink("trades", new)
        return len(new)

    # ---- gaps ------------------------------------------------------------------------------------
    async def _fill(self, gap: Gap) -> None:
        try:
            async with self._locks[gap.symbol]:
                assert self._http is not None, "fills run inside run()"
                result = await trades_between(
                    self._http, self.rest_url, gap.symbol, dt_to_ms(gap.start), dt_to_ms(gap.end)
                )
                self.ledger.close(gap, self._accept(result.rows), result.complete)
        except Exception:
            # trades_between already retried; the gap closes unfillable rather than staying open
            log.exception("upbit gap %s %s..%s: fill failed", gap.symbol, gap.start, gap.end)
            self.ledger.close(gap, 0, complete=False)
        finally:
            self._filling[gap.symbol].remove(gap)

    async def _finish_fills(self) -> None:
        await asyncio.gather(*self._fills)

    async def _compare_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.compare_every_s)
            if self._stop.is_set():
                return
            for market in self.markets:
                await self.compare(market, self.gap_grace)

    async def compare(self, market: str, grace: timedelta) -> None:
        """Store the trades REST holds, since the last comparison up to `grace` before the newest streamed
        trade, that the stream never delivered, as a filled gap."""
        newest = self._ws_newest.get(market)
        horizon = self.seen.horizon
        if newest is None or horizon is None or self._http is None:
            return
        start = self._compared_to.get(market, self._ws_first[market])
        if start < horizon:
            log.warning("upbit %s: trades %s .. %s were never compared with REST", market, start, horizon)
            start = horizon
        end = newest - grace
        if end < start:
            return
        async with self._locks[market]:
            result = await trades_between(self._http, self.rest_url, market, dt_to_ms(start), dt_to_ms(end))
            missing = [
                r
                for r in result.rows
                if (market, r[2]) not in self.seen
                and not any(g.start <= r[3] <= g.end for g in self._filling[market])
            ]
            if missing:
                gap = Gap(
                    up.EXCHANGE, market, "trade", min(r[3] for r in missing), max(r[3] for r in missing),
                    reason="rest-compare",
                )  # fmt: skip
                self.ledger.open(gap)
                self.ledger.close(gap, self._accept(missing), complete=True)
            if result.complete:
                self._compared_to[market] = end
