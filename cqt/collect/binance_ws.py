"""Binance USDⓈ-M WebSocket collector: aggTrade, markPrice@1s and forceOrder on `/market`, bookTicker on
`/public`, in combined-stream mode, with aggTrade id continuity and REST backfill of confirmed holes.

Connections rotate every `rotate_after_s` (default 23 h 50 min) with an overlap, ahead of Binance's 24 h
cut. Malformed frames (and any exception raised while handling one) are counted per stream and kind,
logged with a sample (first few, then every 1000th) and skipped; rows of symbols this collector did not
subscribe to are rejected the same way. All-market streams (`!markPrice@arr@1s`, `!forceOrder@arr`) are
understood, although this collector subscribes per symbol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cqt.collect import binance_parse as bp
from cqt.collect.frame_errors import count_malformed
from cqt.collect.id_gaps import IdContinuity, IdGap
from cqt.collect.rows import MalformedFrame, Row, Sink, dt_to_ms
from cqt.collect.ws_session import WsSession, run_linked

log = logging.getLogger(__name__)

MARKET_STREAMS = ("aggTrade", "markPrice@1s", "forceOrder")
PUBLIC_STREAMS = ("bookTicker",)
ALL_MARKET_STREAMS = ("!markPrice@arr@1s", "!markPrice@arr", "!forceOrder@arr", "!bookTicker")
# bounded set of counter keys: a frame's stream name is wire data and must not mint metric labels
_KNOWN_STREAMS = frozenset((*MARKET_STREAMS, *PUBLIC_STREAMS, "markPrice", *ALL_MARKET_STREAMS))

GapHandler = Callable[[str, IdGap], None]


def stream_kind(name: str) -> str:
    """The counter key of a combined-stream name: the name without its symbol (`btcusdt@markPrice@1s` ->
    `markPrice@1s`), an all-market name as it is (`!forceOrder@arr`), `unexpected` for anything else."""
    kind = name if name.startswith("!") else name.partition("@")[2]
    return kind if kind in _KNOWN_STREAMS else "unexpected"


def stream_url(base: str, symbols: list[str], kinds: tuple[str, ...]) -> str:
    """Combined-stream URL, e.g. `<base>/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s`."""
    names = [f"{s.lower()}@{kind}" for s in symbols for kind in kinds]
    return f"{base}/stream?streams={'/'.join(names)}"


class BinanceWsCollector:
    """Parses both routes' frames into rows for `sink(table, rows)`; reports confirmed id gaps."""

    def __init__(
        self,
        market_url: str,
        public_url: str,
        symbols: list[str],
        sink: Sink,
        on_gap: GapHandler,
        *,
        rotate_after_s: float = 23 * 3600 + 50 * 60,
        stall_timeout_s: float = 30.0,
        gap_grace_ms: int = 2_000,
    ) -> None:
        self.symbols = [s.upper() for s in symbols]
        self.sink = sink
        self.on_gap = on_gap
        self.ids = {s: IdContinuity(grace_ms=gap_grace_ms) for s in self.symbols}
        self.malformed: Counter[str] = Counter()
        self.rejected: Counter[tuple[str, str]] = Counter()  # (stream, kind) of every skipped frame
        self.messages: Counter[str] = Counter()
        self.last_event_ms: dict[str, int] = {}
        self.sessions = [
            WsSession(
                f"binance/{route}",
                stream_url(base, self.symbols, kinds),
                self._on_frame,
                stall_timeout_s=stall_timeout_s,
                rotate_after_s=rotate_after_s,
            )
            for route, base, kinds in (
                ("market", market_url, MARKET_STREAMS),
                ("public", public_url, PUBLIC_STREAMS),
            )
        ]

    def session_for(self, stream: str) -> WsSession:
        """The connection that carries `stream` (bookTicker moved to `/public`, the rest is on `/market`)."""
        return self.sessions[1] if stream in PUBLIC_STREAMS else self.sessions[0]

    async def run(self) -> None:
        """Run both connections and the gap confirmer until `stop()`; if one fails, all end with it."""
        await run_linked(*(s.run() for s in self.sessions), self._confirm_gaps())

    def stop(self) -> None:
        for session in self.sessions:
            session.stop()

    async def _confirm_gaps(self) -> None:
        while not all(s.stopped for s in self.sessions):
            self.check_gaps()
            await asyncio.sleep(0.5)
        self.check_gaps(final=True)

    def check_gaps(self, final: bool = False) -> None:
        """Report holes that outlived the grace period (all pending holes when `final`)."""
        now = time.time_ns() // 1_000_000
        for symbol, tracker in self.ids.items():
            for gap in tracker.confirmed(now + (10**12 if final else 0)):
                log.warning(
                    "binance %s aggTrade ids %d..%d missing (%d)", symbol, gap.from_id, gap.to_id, gap.size
                )
                self.on_gap(symbol, gap)

    def _on_frame(self, data: str | bytes, recv_ts: datetime) -> None:
        stream = "unparsed"
        try:
            frame = json.loads(data)
            name, payload = bp.unwrap(frame)
            if name is None:
                if isinstance(frame, dict) and "result" in frame:
                    return  # reply to a SUBSCRIBE-style request
                raise MalformedFrame("not a combined-stream envelope")
            stream = stream_kind(name)
            self._dispatch(stream, payload, recv_ts, data)
            self.messages[stream] += 1
        except Exception as exc:  # no frame may end the read loop (docs/design.md §5)
            count_malformed(log, "binance", self.malformed, self.rejected, stream, exc, data)

    def _dispatch(self, stream: str, payload: Any, recv_ts: datetime, data: str | bytes) -> None:
        base = stream.lstrip("!").partition("@")[0]
        if base == "aggTrade":
            row = bp.agg_trade(payload, recv_ts)
            symbol, agg_id = row[1], row[2]
            tracker = self.ids.get(symbol)
            if tracker is None:
                raise MalformedFrame(f"aggTrade for unsubscribed symbol {symbol}", "unsubscribed")
            event_ms = dt_to_ms(row[3])
            self.last_event_ms[stream] = event_ms
            if tracker.observe(agg_id, event_ms, int(recv_ts.timestamp() * 1000)):
                self.sink("trades", [row])
        elif base == "markPrice":
            self._emit(stream, "mark_price", bp.mark_prices(payload, recv_ts), 2, data)
        elif base == "forceOrder":
            self._emit(stream, "liquidations", bp.force_orders(payload, recv_ts), 2, data)
        elif base == "bookTicker":
            self._emit(stream, "quotes", [bp.book_ticker(payload, recv_ts)], 3, data)
        else:
            raise MalformedFrame(f"unexpected stream {stream!r}")

    def _emit(self, stream: str, table: str, rows: list[Row], ts_at: int, data: str | bytes) -> None:
        kept = [r for r in rows if r[1] in self.ids]
        if len(kept) < len(rows):
            foreign = sorted({r[1] for r in rows} - set(self.ids))
            exc = MalformedFrame(
                f"{table} of unsubscribed symbol(s) {', '.join(foreign[:5])}", "unsubscribed"
            )
            if not kept:
                raise exc
            count_malformed(log, "binance", self.malformed, self.rejected, stream, exc, data)
        if kept:  # array frames list their events in time order: the last one is the newest
            self.last_event_ms[stream] = dt_to_ms(kept[-1][ts_at])
            self.sink(table, kept)
