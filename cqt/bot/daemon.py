"""The bot process: collectors, bars, predictor and settler under one supervisor, one run row.

Start: settings -> (sim) -> symbols listed by the venues -> database (embedded unless DB_URL) and
migrations -> metrics port -> shard locks and the `bot_runs` row -> writer and collectors. Stop causes:
`duration` (the `--duration` elapsed), `signal` (SIGINT/SIGTERM), `lost` (the shard locks were lost
after a database outage), `crash` (an error outside the supervised tasks, recorded with the exception).
Shutdown stops intake first, then flushes gap fills, bars, repairs, the writer and the spool, then
closes the run row, all within `SHUTDOWN_S`; a run row PostgreSQL could not take then is closed as `lost`
by the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path

import psycopg
from pydantic import SecretStr

from cqt.bot import status_snapshot
from cqt.bot.metrics import BotCollector, MetricsPortError, MetricsServer, PredictionProbe
from cqt.bot.predict_loop import PredictionLoop
from cqt.bot.run_record import AlreadyRunning, RunRecord, shard_keys
from cqt.bot.status_log import StatusLog
from cqt.bot.supervisor import Supervisor
from cqt.collect import venue_symbols
from cqt.collect.collection import Collection, Component, Tuning
from cqt.collect.stopping import CANCEL_GRACE_S, finish_by
from cqt.config import Settings
from cqt.db.connect import DbTarget, resolve
from cqt.db.migrate import migrate
from cqt.flock import try_lock
from cqt.labels import DynamicThreshold
from cqt.predict.features import collected_upbit_market, upbit_market_for
from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer

log = logging.getLogger("cqt.bot")

LIVE_HORIZON_S = 120
# The whole shutdown, from the stop cause to the closed run row (docs/design.md §5.7): Docker sends SIGKILL
# 10 s after SIGTERM, and the end-of-run summary and the interpreter's exit need the rest.
SHUTDOWN_S = 7.0
# The part of it the run row's close always gets (connect, the last events, the stop).
RUN_ROW_S = 1.5
# How far a step cancelled at its deadline may overrun it (two cancellations, each with its grace).
OVERRUN_S = 2 * CANCEL_GRACE_S
# A `--source sim --duration 120` demonstration must show settled predictions: H = 120 s could not settle
# within the run, so the simulator's default horizon is 30 s (override with --horizon).
SIM_HORIZON_S = 30


class StartError(RuntimeError):
    """The bot could not start (exit 2); the message says why and what to do."""


@dataclass(frozen=True)
class BotOptions:
    """Command-line choices of one run."""

    source: str = "live"
    duration_s: float | None = None
    symbols: tuple[str, ...] = ()
    kill_task: tuple[str, float] | None = None  # test hook: (component, seconds after start)
    sim_rate: float = 300.0
    sim_seed: int | None = None  # None: the simulator's default seed
    horizon_s: int | None = None  # None: 120 s live (docs/design.md §4), SIM_HORIZON_S with the simulator

    @property
    def horizon(self) -> int:
        """The label horizon H of this run's predictions."""
        if self.horizon_s is not None:
            return self.horizon_s
        return SIM_HORIZON_S if self.source == "sim" else LIVE_HORIZON_S

    @property
    def threshold(self) -> DynamicThreshold:
        """The dynamic r_t of docs/design.md §4; the simulator needs fewer returns to start, so a two-minute
        demo run predicts from about 20 s on and settles within the run."""
        return DynamicThreshold(min_returns=20) if self.source == "sim" else DynamicThreshold()


def effective_settings(settings: Settings, opts: BotOptions) -> Settings:
    """Settings with `--symbols` applied (Binance symbols and their Upbit markets)."""
    if not opts.symbols:
        return settings
    symbols = [s.upper() for s in opts.symbols]
    return settings.model_validate(
        {
            **settings.model_dump(),
            "binance_symbols": symbols,
            "upbit_markets": [upbit_market_for(s) for s in symbols],
        }
    )


@contextlib.contextmanager
def source_settings(settings: Settings, opts: BotOptions) -> Iterator[Settings]:
    """For `--source sim`, a simulator in its own thread and settings pointing at it."""
    if opts.source == "live":
        yield settings
        return
    cfg = SimConfig(
        seed=SimConfig.seed if opts.sim_seed is None else opts.sim_seed,
        rate=opts.sim_rate,
        binance_symbols=tuple(settings.binance_symbols),
        upbit_symbols=tuple(settings.upbit_markets),
    )
    with SimServer.in_thread(cfg) as sim:
        urls = {k.lower(): v for k, v in sim.urls.as_env().items()}
        log.info("simulator up: %s", ", ".join(f"{k}={v}" for k, v in sorted(urls.items())))
        yield settings.model_copy(update={**urls, "coinglass_api_key": SecretStr(SIM_COINGLASS_KEY)})


# The flock on LOG_DIR/.bot.log.lock that makes this process the one writing bot.log; held until exit.
_log_locks: list[int] = []


def setup_file_log(log_dir: Path) -> Path:
    """Add the rotating log next to the stderr log: `bot.log`, or `bot-<pid>.log` while another bot writes
    `bot.log` in the same LOG_DIR (two rotating handlers on one file race at rotation); StartError if
    LOG_DIR cannot hold it."""
    path = shared = log_dir / "bot.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        lock = try_lock(log_dir / ".bot.log.lock")
        if lock is None:
            path = log_dir / f"bot-{os.getpid()}.log"
        else:
            _log_locks.append(lock)
        handler = RotatingFileHandler(path, maxBytes=10 * 1024**2, backupCount=5, encoding="utf-8")
    except OSError as exc:
        raise StartError(
            f"cannot write {path} ({exc.strerror or exc}); set LOG_DIR to a writable directory"
        ) from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if path != shared:
        log.warning("%s is written by another bot in this directory; this bot logs to %s", shared, path)
    return path


def prepare_database(settings: Settings, source: str = "live") -> DbTarget:
    """The database of `source`, migrated; StartError if it cannot be reached."""
    try:
        target = resolve(settings)
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            migrate(conn)
    except (psycopg.Error, RuntimeError) as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        setting, flag = ("SIM_DB_URL", " --source sim") if source == "sim" else ("DB_URL", "")
        raise StartError(
            f"database not reachable ({cause}); check {setting} or run `cqt db check{flag}`"
        ) from None
    return target


def check_symbols(settings: Settings) -> None:
    """StartError for a symbol its venue does not list (before the database and the run row); a venue
    that cannot be asked is a warning only: the collectors retry."""
    try:
        warnings = venue_symbols.check(settings)
    except venue_symbols.UnknownSymbols as exc:
        raise StartError(str(exc)) from None
    for warning in warnings:
        log.warning("%s", warning)


class Bot:
    """One run of the bot."""

    def __init__(self, settings: Settings, opts: BotOptions, conninfo: str) -> None:
        self.settings = settings
        self.opts = opts
        self.conninfo = conninfo
        self.record = RunRecord(
            conninfo, opts.source, list(settings.binance_symbols),
            shard_keys(opts.source, settings.binance_symbols, settings.upbit_markets),
        )  # fmt: skip
        try:
            # The simulator in this process opens a new market each run: nothing was sent between two
            # runs, so there is nothing to look for (cqt.collect.resume).
            tuning = Tuning(resume_max_age_s=0.0) if opts.source == "sim" else Tuning()
            self.collection = Collection(settings, conninfo, settings.spool_dir, tuning)
        except OSError as exc:  # the spool directory is created here
            raise StartError(
                f"cannot use {settings.spool_dir} ({exc.strerror or exc}); set SPOOL_DIR to a writable directory"
            ) from None
        self.collection.writer.on_event = lambda kind, detail: self.record.event("writer", kind, detail)
        self.supervisor = Supervisor(self.record.event)
        self.probe = PredictionProbe()
        self.stop_cause = "crash"
        self.stop_detail = ""
        self.closed = False  # the run row got its stop
        self._stop = asyncio.Event()

    def request_stop(self, cause: str, detail: str = "") -> None:
        """First cause wins."""
        if not self._stop.is_set():
            self.stop_cause, self.stop_detail = cause, detail
            self._stop.set()

    async def run(self) -> int:
        """Run until a stop cause; returns the process exit code."""
        # The port is taken before the locks and the run row, so a busy port leaves no trace of a run.
        try:
            metrics = MetricsServer(
                BotCollector(self.collection, self.supervisor, self.probe), self.settings.metrics_port
            )
        except MetricsPortError as exc:
            raise StartError(str(exc)) from None
        try:
            run_id = await self.record.open()
        except AlreadyRunning as exc:
            metrics.close()
            raise StartError(str(exc)) from None
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        heartbeat = asyncio.create_task(self.record.heartbeat(), name="heartbeat")
        deadline: float | None = None  # of the whole shutdown, set when a stop cause arrives
        try:
            await self._start(run_id, metrics.port)
            await self._wait_for_stop(heartbeat, started)
            deadline = loop.time() + SHUTDOWN_S
            # The heartbeat ends alongside the collection, not after it: a beat hung on PostgreSQL costs
            # the run row's close nothing. The close writes the last events and snapshot itself.
            self.record.stop()
            beat_ended = asyncio.ensure_future(
                finish_by(
                    {heartbeat: "heartbeat"} if not heartbeat.done() else {}, loop.time() + CANCEL_GRACE_S
                )
            )
            await self.collection.shutdown(
                self.supervisor.tasks, timeout_s=SHUTDOWN_S - RUN_ROW_S - 2 * OVERRUN_S
            )
            await beat_ended
        except Exception as exc:  # recorded as the run's crash, then re-raised for the exit code
            self.request_stop("crash", "".join(traceback.format_exception(exc))[-2000:])
            log.exception("bot crashed")
            raise
        finally:
            if deadline is None:
                deadline = loop.time() + SHUTDOWN_S
            self.record.stop()
            if not heartbeat.done():
                await finish_by({heartbeat: "heartbeat"}, loop.time() + CANCEL_GRACE_S)
            self.closed = await self.record.close(
                self.stop_cause,
                self.stop_detail,
                timeout_s=max(RUN_ROW_S, deadline - OVERRUN_S - loop.time()),
            )
            metrics.close()
            log.info(
                "run %d stopped: %s %s%s", run_id, self.stop_cause, self.stop_detail,
                "" if self.closed else "; its bot_runs row stays open (PostgreSQL unavailable): the next start"
                " closes it with stop cause lost",
            )  # fmt: skip
        return 0

    async def _start(self, run_id: int, metrics_port: int) -> None:
        s, col = self.settings, self.collection
        await col.start()
        markets = {
            b: m for b in s.binance_symbols if (m := collected_upbit_market(b, s.upbit_markets)) is not None
        }
        predictor = PredictionLoop(
            self.conninfo, list(s.binance_symbols), markets, self.probe,
            horizon_s=self.opts.horizon, threshold=self.opts.threshold,
        )  # fmt: skip
        status = StatusLog(col)
        self.record.snapshot = lambda: status_snapshot.take(col)
        col.components += [
            Component("predictor", predictor.run, predictor.stop),
            Component("status-log", status.run, status.stop),
        ]
        for comp in col.components:
            self.supervisor.start(comp)
        log.info(
            "run %d: source %s, Binance %s, Upbit %s, metrics http://127.0.0.1:%d/metrics, components %s",
            run_id, self.opts.source, ",".join(s.binance_symbols), ",".join(s.upbit_markets), metrics_port,
            ", ".join(c.name for c in col.components),
        )  # fmt: skip

    async def _wait_for_stop(self, heartbeat: asyncio.Task[None], started: float) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, "signal", signal.Signals(sig).name)
        waits = [asyncio.create_task(self._stop.wait()), heartbeat]
        if self.opts.duration_s is not None:
            waits.append(asyncio.create_task(self._after(self.opts.duration_s, "duration")))
        if self.opts.kill_task is not None:
            waits.append(asyncio.create_task(self._kill_later(*self.opts.kill_task)))
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if heartbeat in done and heartbeat.exception() is not None:
            self.request_stop("lost", str(heartbeat.exception()))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for task in waits:
            if task is not heartbeat:
                task.cancel()
        log.info("stopping after %.0fs: %s %s", time.monotonic() - started, self.stop_cause, self.stop_detail)

    async def _after(self, seconds: float, cause: str) -> None:
        await asyncio.sleep(seconds)
        self.request_stop(cause, f"{seconds:g}s elapsed")

    async def _kill_later(self, component: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.supervisor.kill(component):
            log.warning("test hook: killed %s", component)
        await self._stop.wait()
