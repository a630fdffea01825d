"""Everything that collects, wired together: venues -> (bars, gap ledger) -> storage writer.

    collection = Collection(settings, conninfo, spool_dir)
    await collection.start()                       # shared HTTP session, writer and collectors
    tasks = {c.name: asyncio.create_task(c.run()) for c in collection.components}
    ...
    await collection.shutdown(tasks)               # intake, gap fills, bars, repairs, writer

The bot supervises `components` one by one (restart with backoff); tests run them directly. Every
collector writes through one sink: `BarFeed.tee(writer.put)`, so trades and quotes also become bars.
Shutdown order matters for "nothing lost": intake stops first, then in-flight gap fills finish, then the
aggregators flush their open bars, then bar repairs run, then the writer flushes and (if PostgreSQL is
away) spools. The whole shutdown has one deadline (docs/design.md §5.7): a step still running at its
deadline is cancelled, and what the writer has not written by the end is spooled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from cqt.collect import resume
from cqt.collect.bar_feed import BarFeed
from cqt.collect.bar_repair import BarRepair
from cqt.collect.binance_gaps import BinanceGapFiller
from cqt.collect.binance_poll import BinancePoller
from cqt.collect.binance_rest import BinanceRest
from cqt.collect.binance_ws import BinanceWsCollector
from cqt.collect.coinglass_poll import CoinglassPoller, CoinglassTarget
from cqt.collect.gap_ledger import Gap, GapLedger
from cqt.collect.id_gaps import IdGap
from cqt.collect.rows import dt_to_ms
from cqt.collect.stopping import finish_by
from cqt.collect.upbit_ws import UpbitWsCollector
from cqt.config import Settings
from cqt.store.spool import Spool
from cqt.store.writer import Writer

log = logging.getLogger(__name__)

VENUES = ("upbit", "binance", "binance_rest", "coinglass")
# The shutdown's default bound (the bot gives its own): well inside Docker's 10 s grace before SIGKILL.
SHUTDOWN_S = 6.0
# What the steps before the writer leave it: a last flush, or spooling the rows it holds.
WRITER_S = 2.0
STEP_MIN_S = 0.25


@dataclass(frozen=True)
class Tuning:
    """Knobs with production defaults; tests shorten them (e.g. the 24 h rotation)."""

    venues: tuple[str, ...] = VENUES
    stall_timeout_s: float = 30.0
    binance_rotate_after_s: float = 23 * 3600 + 50 * 60
    gap_grace_ms: int = 2_000
    bar_grace_ms: int = 2_000
    bar_lateness_ms: int = 30_000
    upbit_compare_every_s: float = 10.0
    binance_fast_every_s: float = 10.0
    binance_period_every_s: float = 60.0
    write_latency_s: float = 0.25
    spool_max_bytes: int = 2 * 1024**3
    # How old the previous run's newest trade may be for the span up to this run to be backfilled
    # (cqt.collect.resume); 0 turns the run-to-run check off.
    resume_max_age_s: float = 6 * 3600.0


@dataclass
class Component:
    """One supervised unit: `run()` until `request_stop()`; a supervisor restarts it if it fails."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    stop: Callable[[], None]
    intake: bool = True  # stopped first at shutdown
    stop_requested: bool = False

    def request_stop(self) -> None:
        """Ask the component to return from `run()` (a return after this is not a failure)."""
        self.stop_requested = True
        self.stop()


@dataclass
class Collection:
    """Collectors, bar pipeline, gap ledger and writer for one process."""

    settings: Settings
    conninfo: str
    spool_dir: Path
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        t = self.tuning
        unknown = set(t.venues) - set(VENUES)
        if unknown:
            raise ValueError(f"unknown venues {sorted(unknown)}; known: {', '.join(VENUES)}")
        # A spool directory of this process's own under spool_dir: neighbours started from the same
        # directory never touch its files, and it adopts the spools their crashed predecessors left.
        self.writer = Writer(
            self.conninfo, Spool.claim(self.spool_dir, t.spool_max_bytes), max_latency_s=t.write_latency_s
        )
        self.bars = BarFeed(self.writer.put, grace_ms=t.bar_grace_ms, lateness_ms=t.bar_lateness_ms)
        self.sink = self.bars.tee(self.writer.put)
        self.ledger = GapLedger(self.sink)
        self.repair = BarRepair(self.conninfo, self.bars, self.writer)
        self._writer = Component("writer", self.writer.run, self.writer.request_stop, intake=False)
        self.ledger.on_close(self.repair.schedule)
        self.components: list[Component] = []
        self.upbit: UpbitWsCollector | None = None
        self.binance: BinanceWsCollector | None = None
        self.binance_poller: BinancePoller | None = None
        self.coinglass: CoinglassPoller | None = None
        self.gap_filler: BinanceGapFiller | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Build the writer's component and the collectors of the enabled venues."""
        s, t = self.settings, self.tuning
        previous, left_open = await self._previous_run()
        self._http = aiohttp.ClientSession()
        rest = BinanceRest(self._http, s.binance_rest_url)
        self.gap_filler = BinanceGapFiller(rest, self.sink, self.ledger)
        comps = self.components
        # Supervised like the collectors: a crash is recorded and the flusher restarted with its backlog.
        comps.append(self._writer)
        if "upbit" in t.venues:
            self.upbit = UpbitWsCollector(
                s.upbit_ws_url, s.upbit_rest_url, list(s.upbit_markets), self.sink, self.ledger,
                stall_timeout_s=t.stall_timeout_s, compare_every_s=t.upbit_compare_every_s,
                gap_grace_ms=t.gap_grace_ms,
                resume_from={m: n.gap_start for (x, m), n in previous.items() if x == "upbit"},
                refill=[g for g in left_open if g.exchange == "upbit"],
            )  # fmt: skip
            comps.append(
                Component("upbit-ws", self.upbit.run, self._stops_listening("upbit", self.upbit.stop))
            )
        if "binance" in t.venues:
            self.binance = BinanceWsCollector(
                s.binance_ws_market_url, s.binance_ws_public_url, list(s.binance_symbols), self.sink,
                self.gap_filler.on_gap, rotate_after_s=t.binance_rotate_after_s,
                stall_timeout_s=t.stall_timeout_s, gap_grace_ms=t.gap_grace_ms,
            )  # fmt: skip
            for (exchange, symbol), newest in previous.items():
                if exchange == "binance":
                    self.binance.ids[symbol].resume_after(newest.trade_id, dt_to_ms(newest.gap_start))
            for gap in left_open:
                if gap.exchange == "binance" and gap.from_id is not None and gap.to_id is not None:
                    hole = IdGap(gap.from_id, gap.to_id, dt_to_ms(gap.start), dt_to_ms(gap.end))
                    self.gap_filler.on_gap(gap.symbol, hole)
            comps.append(
                Component("binance-ws", self.binance.run, self._stops_listening("binance", self.binance.stop))
            )
        if "binance_rest" in t.venues:
            self.binance_poller = BinancePoller(
                rest, list(s.binance_symbols), self.sink,
                fast_every_s=t.binance_fast_every_s, period_every_s=t.binance_period_every_s,
            )  # fmt: skip
            comps.append(Component("binance-rest", self.binance_poller.run, self.binance_poller.stop))
        if "coinglass" in t.venues:
            target = CoinglassTarget(
                s.coinglass_coin, s.coinglass_pair, s.coinglass_exchange, s.coinglass_interval
            )
            self.coinglass = CoinglassPoller(
                s.coinglass_rest_url, s.coinglass_api_key.get_secret_value(), target, self.sink,
                enabled=s.coinglass_enabled, period_s=s.coinglass_poll_s,
            )  # fmt: skip
            comps.append(Component("coinglass", self.coinglass.run, self.coinglass.stop))
        comps.append(Component("bars", self.bars.run, self.bars.stop, intake=False))
        comps.append(Component("bar-repair", self.repair.run, self.repair.stop, intake=False))

    async def _previous_run(self) -> tuple[dict[resume.Shard, resume.Newest], list[Gap]]:
        """The newest trade earlier runs stored per shard of this run, young enough to backfill from, and
        the gaps they left open."""
        s, t = self.settings, self.tuning
        if t.resume_max_age_s <= 0:
            return {}, []
        shards = [("upbit", m.upper()) for m in s.upbit_markets if "upbit" in t.venues]
        shards += [("binance", b.upper()) for b in s.binance_symbols if "binance" in t.venues]
        # The previous run's spool first: its rows are part of what that run received.
        await self.writer.flush()
        try:
            found = await asyncio.to_thread(resume.stored_newest, self.conninfo, shards)
            replayed = not self.writer.spool.depth
            if replayed:
                left_open = await asyncio.to_thread(
                    resume.left_open, self.conninfo, shards, t.resume_max_age_s
                )
        except psycopg.OperationalError as exc:
            log.error(
                "run-to-run continuity not checked: PostgreSQL unreachable (%s)",
                str(exc).strip().splitlines()[0],
            )
            return {}, []
        if not replayed:  # PostgreSQL went away again before the replay ended
            found = await asyncio.to_thread(resume.with_spooled, found, self.writer.spool, shards)
            left_open = []
            log.warning("gaps earlier runs left open are not looked for: their spool is not replayed yet")
        return resume.within_reach(found, t.resume_max_age_s), left_open

    def _stops_listening(self, exchange: str, stop: Callable[[], None]) -> Callable[[], None]:
        """`stop` that first tells the bar feed when the collector stopped listening (its last bars)."""

        def stopping() -> None:
            self.bars.stop_listening(exchange)
            stop()

        return stopping

    async def shutdown(self, tasks: dict[str, asyncio.Task[None]], *, timeout_s: float = SHUTDOWN_S) -> None:
        """Stop in the order that loses nothing, within `timeout_s`; `tasks` maps component names to their
        running tasks. A step still running at its deadline is cancelled and named in the log (a cancelled
        gap fill leaves its gap open in the ledger); the steps before the writer leave it `WRITER_S`, and
        whatever it has not written by the end is spooled."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        steps_end = end - min(WRITER_S, timeout_s / 2)

        def step_end() -> float:
            # a step after one that took all the time still gets a moment: a quick step then ends normally
            return max(steps_end, loop.time() + STEP_MIN_S)

        await self._stop_and_wait(tasks, intake=True, until=step_end())
        if self.gap_filler is not None and self.gap_filler.in_flight:
            # fills sink trades: the bar feed must still be running
            fills = asyncio.ensure_future(self.gap_filler.drain())
            await finish_by(
                {fills: f"{self.gap_filler.in_flight} gap fill(s) (their gaps stay open)"}, step_end()
            )
        await self._stop_and_wait(tasks, intake=False, until=step_end())
        self.bars.flush()
        if self.repair.pending:
            repairs = asyncio.ensure_future(self.repair.work(all_pending=True))
            await finish_by({repairs: f"{len(self.repair.pending)} bar repair(s)"}, step_end())
        # The writer goes last: everything above still writes through it.
        await self._stop_writer(tasks.get(self._writer.name), end)
        if self._http is not None:
            await self._http.close()

    async def _stop_and_wait(
        self, tasks: dict[str, asyncio.Task[None]], *, intake: bool, until: float
    ) -> None:
        chosen = [c for c in self.components if c.intake is intake and c is not self._writer]
        for comp in chosen:
            comp.request_stop()
        await finish_by({tasks[c.name]: c.name for c in chosen if c.name in tasks}, until)

    async def _stop_writer(self, task: asyncio.Task[None] | None, end: float) -> None:
        self._writer.request_stop()
        late = await finish_by({task: "storage writer"} if task is not None else {}, end)
        if not late:
            final = asyncio.ensure_future(self.writer.stop())
            late = await finish_by({final: "storage writer's last flush"}, end)
        if late:
            rows = await self.writer.stop_now()
            log.warning("shutdown: PostgreSQL had not taken %d row(s) by the deadline; spooled them", rows)
        m = self.writer.metrics
        if m.spool_depth:
            log.warning(
                "shutdown: %d batch(es) (%d bytes) wait in the spool %s; the next start replays them",
                m.spool_depth, m.spool_bytes, self.writer.spool.directory,
            )  # fmt: skip

    async def run(self, until: asyncio.Event) -> None:
        """Start, run every component until `until` is set, shut down (tests and simple tools)."""
        await self.start()
        tasks = {c.name: asyncio.create_task(c.run(), name=c.name) for c in self.components}
        await until.wait()
        await self.shutdown(tasks)
