"""One client WebSocket as the streams see it: batched frame writes with fault hooks applied.

Data frames bypass aiohttp's per-message send: each tick's frames for a connection are encoded and handed
to the transport in one write (one WebSocket frame per message, as on the wire), which is what lets the
simulator offer tens of thousands of messages per second. Control traffic (pings, close, replies) still
goes through aiohttp. Compression is never negotiated, so frames need no per-message state.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from aiohttp import web

from cqt.sim.faults import Fault, FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.wire import ws_frame


class StreamConn:
    def __init__(
        self,
        venue: str,
        request: web.Request,
        ws: web.WebSocketResponse,
        opcode: int,
        plan: FaultPlan,
        ledger: Ledger,
        max_backlog: int,
    ) -> None:
        self.venue = venue
        self.path = request.path
        self.ws = ws
        self.opcode = opcode
        self.plan = plan
        self.ledger = ledger
        self.max_backlog = max_backlog
        transport = request.transport
        assert transport is not None
        self.transport: asyncio.Transport = transport
        self.loop = asyncio.get_running_loop()
        self.opened = self.loop.time()
        self.last_activity = self.opened
        self.stalled_until = 0.0
        self.dropped = False
        self._held: str | None = None

    @property
    def stalled(self) -> bool:
        return self.loop.time() < self.stalled_until

    @property
    def alive(self) -> bool:
        return not (self.dropped or self.ws.closed or self.transport.is_closing())

    def targeted_by(self, fault: Fault) -> bool:
        """Whether a connection fault (drop, stall) applies to this open connection."""
        return self.alive and fault.matches(self.venue, path=self.path)

    def touch(self) -> None:
        self.last_activity = self.loop.time()

    def apply(self, fault: Fault) -> None:
        if fault.kind == "drop":
            self.dropped = True
            self.transport.abort()
        elif fault.kind == "stall":
            self.stalled_until = self.loop.time() + fault.seconds if fault.seconds > 0 else math.inf

    def send(self, payloads: Sequence[str]) -> None:
        """Write data messages (already serialised JSON) as one frame each, faults applied."""
        if not payloads or not self.alive:
            return
        if self.stalled:
            self.ledger.frames_suppressed[self.venue] += len(payloads)
            return
        out = list(payloads)
        if self.plan.active or self._held is not None:
            out = self._with_faults(out)
        self.transport.write(b"".join([ws_frame(p.encode(), self.opcode) for p in out]))
        self.ledger.frames_sent[self.venue] += len(out)
        self.touch()
        if self.transport.get_write_buffer_size() > self.max_backlog:
            # A consumer this far behind would be cut by the exchange too.
            self.dropped = True
            self.transport.abort()

    def _with_faults(self, out: list[str]) -> list[str]:
        plan, venue = self.plan, self.venue
        reordered: list[str] = []
        swaps = 0
        for payload in out:
            if self._held is not None:
                reordered += [payload, self._held]
                self._held = None
            elif plan.take("reorder", venue):
                self._held = payload  # goes out right after the next frame, whichever tick that is in
                swaps += 1
            else:
                reordered.append(payload)
        out = reordered
        dups = plan.take("duplicate", venue, n=len(out))
        if dups:
            out = [p for p in out[:dups] for _ in (0, 1)] + out[dups:]
        bad = plan.take("malformed", venue, n=len(out))
        if bad:
            out = out + [plan.hostile(p) for p in out[:bad]]
        for kind, n in (("reorder", swaps), ("duplicate", dups), ("malformed", bad)):
            if n:
                self.ledger.faults_applied[kind] += n
        return out
