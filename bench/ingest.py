"""Ingest benchmark (issue 5): simulator -> collectors -> bars -> PostgreSQL, against `psql \\copy`.

    python bench/ingest.py                          # both scenarios, 20 s steady window each
    python bench/ingest.py --seconds 3              # smoke run (a few seconds per scenario)
    python bench/ingest.py --rates max --profile    # cProfile of the collector over the steady window

An embedded PostgreSQL (pgserver) is started in a temporary directory and stopped at the end; each
scenario gets its own database. The simulator runs as a separate process (`python -m cqt.sim`), so it
does not share the collectors' GIL; this process runs the real `Collection` (Upbit + Binance WebSockets,
bars, gap ledger, writer; REST pollers and Coinglass off) exactly as the bot does.

Scenarios (`--rates`, comma-separated):
- `max`: the simulator at `--max-rate` msg/s (default 60,000: about what the simulator process delivers on
  a shared 2-core machine; far above what the collector takes, the simulator cuts it at its 64 MiB
  backlog limit and the run turns into a reconnect/backfill test) over 4 Binance symbols and 4 Upbit
  markets. Prints the
  sustained committed rows/s of trades, quotes and bars over the steady window (after `--warmup`),
  event->commit and recv->commit latency percentiles of the trades, CPU seconds of this process per 1k
  received WebSocket messages, and the ceiling: the same trade rows exported to CSV and loaded by
  `psql \\copy` into an empty table of the same shape (keys and indexes included), timed in the same run.
- a number, e.g. `2000`: the simulator at that rate (default symbols); prints latency and the share of
  one core this process used, with pass/fail against p99 < 1 s and < 10 % of a core.

Latency comes from the writer's `on_commit` hook: commit wall time minus each trade's event `ts` (and
its `recv_ts`). The simulator and the collectors share this machine's clock. Not run by CI or pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg.conninfo import make_conninfo

from cqt.collect.collection import Collection, Tuning
from cqt.config import load_settings
from cqt.db import embedded
from cqt.db.connect import with_utc
from cqt.db.migrate import migrate
from cqt.store.spool import Batch

MAX_BINANCE = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
MAX_UPBIT = ("KRW-BTC", "KRW-ETH", "KRW-SOL", "KRW-XRP")
DEFAULT_BINANCE = ("BTCUSDT", "ETHUSDT")
DEFAULT_UPBIT = ("KRW-BTC", "KRW-ETH")
TRADES_TS, TRADES_RECV_TS = 3, 4  # positions of ts and recv_ts in a trades row
P99_TARGET_S = 1.0
CORE_SHARE_TARGET = 0.10
TRADES_TARGET = 50_000.0


@dataclass
class CommitLog:
    """What the writer committed and when; the hook only appends, analysis happens after the run."""

    commits: list[tuple[float, Batch]] = field(default_factory=list)

    def on_commit(self, batch: Batch, committed_at: float) -> None:
        self.commits.append((committed_at, batch))

    def rows(self, table: str, start: float, end: float) -> int:
        return sum(len(b.get(table, ())) for t, b in self.commits if start <= t <= end)

    def trade_latencies(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """(event->commit, recv->commit) seconds of every trade committed in [start, end]."""
        event: list[float] = []
        recv: list[float] = []
        for committed, batch in self.commits:
            if start <= committed <= end:
                for row in batch.get("trades", ()):
                    event.append(committed - row[TRADES_TS].timestamp())
                    recv.append(committed - row[TRADES_RECV_TS].timestamp())
        return np.asarray(event), np.asarray(recv)


@dataclass(frozen=True)
class Mark:
    """Wall clock, CPU seconds of this process and WebSocket messages received, at one instant."""

    wall: float
    cpu: float
    messages: int

    @staticmethod
    def now(collection: Collection) -> Mark:
        sessions = [*(collection.upbit.sessions if collection.upbit else []),
                    *(collection.binance.sessions if collection.binance else [])]  # fmt: skip
        return Mark(time.time(), time.process_time(), sum(s.stats.messages for s in sessions))


@dataclass
class Run:
    """One scenario's measurements over its steady window."""

    start: Mark
    end: Mark
    log: CommitLog
    reconnects: int
    profile: str = ""

    @property
    def seconds(self) -> float:
        return self.end.wall - self.start.wall

    def rate(self, table: str) -> float:
        return self.log.rows(table, self.start.wall, self.end.wall) / self.seconds


class Simulator:
    """`python -m cqt.sim` in its own process; its base URLs are read from what it prints."""

    def __init__(self, rate: float, binance: tuple[str, ...], upbit: tuple[str, ...]) -> None:
        cmd = [sys.executable, "-m", "cqt.sim", "--rate", str(rate), "--binance-symbols", ",".join(binance),
               "--upbit-symbols", ",".join(upbit)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.env: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            name, sep, value = line.strip().partition("=")
            if sep and name.isupper():
                self.env[name.lower()] = value
            if name == "COINGLASS_API_KEY":
                break
        if "binance_ws_market_url" not in self.env:
            self.proc.kill()
            raise RuntimeError(f"the simulator did not print its URLs (exit code {self.proc.poll()})")

    def stop(self) -> str:
        """Stop it by PID (SIGINT: it prints what it sent) and return that last line."""
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = [ln for ln in out.splitlines() if ln.startswith("frames sent")]
        return lines[-1] if lines else "(simulator printed no frame count)"


async def collect(sim: Simulator, conninfo: str, spool: Path, warmup_s: float, seconds: float,
                  profile: bool, binance: tuple[str, ...], upbit: tuple[str, ...]) -> Run:  # fmt: skip
    settings = load_settings(None, **sim.env, binance_symbols=list(binance), upbit_markets=list(upbit))
    collection = Collection(settings, conninfo, spool, Tuning(venues=("upbit", "binance")))
    log = CommitLog()
    collection.writer.on_commit = log.on_commit
    until = asyncio.Event()
    runner = asyncio.create_task(collection.run(until))
    await asyncio.sleep(warmup_s)
    profiler = cProfile.Profile() if profile else None
    start = Mark.now(collection)
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(seconds)
    if profiler is not None:
        profiler.disable()
    end = Mark.now(collection)
    until.set()
    await runner
    sessions = [*(collection.upbit.sessions if collection.upbit else []),
                *(collection.binance.sessions if collection.binance else [])]  # fmt: skip
    run = Run(start, end, log, sum(s.stats.reconnects for s in sessions))
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(15)
        stats.sort_stats("tottime").print_stats(10)
        run.profile = text.getvalue()
    return run


def psql(conninfo: str, command: str) -> float:
    """Run one psql meta-command; return its wall time in seconds."""
    binary = embedded.psql_binary()
    started = time.perf_counter()
    subprocess.run([str(binary), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", command],
                   check=True)  # fmt: skip
    return time.perf_counter() - started


def copy_ceiling(conninfo: str, workdir: Path) -> tuple[int, float]:
    """The run's stored trades -> CSV -> `\\copy` into an empty table shaped like `trades`: (rows, s)."""
    csv = workdir / "trades.csv"
    psql(conninfo, f"\\copy trades TO '{csv}' (FORMAT csv)")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS trades_copy")
        conn.execute("CREATE TABLE trades_copy (LIKE trades INCLUDING ALL)")  # same keys, index, checks
        row = conn.execute("SELECT count(*) FROM trades").fetchone()
    assert row is not None
    seconds = psql(conninfo, f"\\copy trades_copy FROM '{csv}' (FORMAT csv)")
    return int(row[0]), seconds


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report_common(name: str, run: Run) -> tuple[np.ndarray, float]:
    event, recv = run.log.trade_latencies(run.start.wall, run.end.wall)
    messages = run.end.messages - run.start.messages
    cpu = run.end.cpu - run.start.cpu
    print(f"[{name}] steady window {run.seconds:.1f} s, {messages:,} WebSocket messages received "
          f"({messages / run.seconds:,.0f}/s), reconnects {run.reconnects}")  # fmt: skip
    print(f"[{name}] committed/s: trades {run.rate('trades'):,.0f}  quotes {run.rate('quotes'):,.0f}  "
          f"bars {run.rate('market_1s'):,.1f}")  # fmt: skip
    print(f"[{name}] event->commit p50 {pct(event, 50) * 1e3:,.0f} ms  p99 {pct(event, 99) * 1e3:,.0f} ms  |  "
          f"recv->commit p50 {pct(recv, 50) * 1e3:,.0f} ms  p99 {pct(recv, 99) * 1e3:,.0f} ms  ({event.size:,} trades)")  # fmt: skip
    per_k = cpu / messages * 1e3 if messages else float("nan")
    print(
        f"[{name}] CPU {cpu:.2f} s = {cpu / run.seconds:.1%} of one core; {per_k * 1e3:.1f} ms CPU per 1k messages"
    )
    return event, cpu / run.seconds


def scenario(rate_arg: str, args: argparse.Namespace, server: str, workdir: Path) -> None:
    is_max = rate_arg == "max"
    rate = args.max_rate if is_max else float(rate_arg)
    binance, upbit = (MAX_BINANCE, MAX_UPBIT) if is_max else (DEFAULT_BINANCE, DEFAULT_UPBIT)
    name = f"max @ {rate:g} msg/s" if is_max else f"realistic @ {rate:g} msg/s"
    dbname = f"ingest_{'max' if is_max else int(rate)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')  # fixed names, not user input
        admin.execute(f'CREATE DATABASE "{dbname}"')
    conninfo = make_conninfo(server, dbname=dbname)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        migrate(conn)
    sim = Simulator(rate, binance, upbit)
    try:
        run = asyncio.run(collect(sim, with_utc(conninfo, 5), workdir / f"spool_{dbname}", args.warmup,
                                  args.seconds, args.profile and is_max, binance, upbit))  # fmt: skip
    finally:
        print(f"[{name}] simulator: {sim.stop()}")
    event, core_share = report_common(name, run)
    if is_max:
        rows, copy_s = copy_ceiling(conninfo, workdir)
        pipeline = run.rate("trades")
        print(f"[{name}] ceiling: psql \\copy of the same {rows:,} trade rows {copy_s:.2f} s = "
              f"{rows / copy_s:,.0f} trades/s; pipeline/copy = {pipeline / (rows / copy_s):.3f}")  # fmt: skip
        print(f"[{name}] target >= {TRADES_TARGET:,.0f} trades/s sustained: {verdict(pipeline >= TRADES_TARGET)} "
              f"({pipeline:,.0f})")  # fmt: skip
        if run.profile:
            print(f"[{name}] cProfile of this process over the steady window (numbers above are from this "
                  f"profiled run), top 15 by cumtime, then top 10 by tottime:\n{run.profile}")  # fmt: skip
    else:
        p99 = pct(event, 99)
        print(f"[{name}] target p99 event->commit < {P99_TARGET_S:g} s: {verdict(p99 < P99_TARGET_S)} "
              f"({p99:.3f} s); target < {CORE_SHARE_TARGET:.0%} of one core: "
              f"{verdict(core_share < CORE_SHARE_TARGET)} ({core_share:.1%})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="steady window per scenario")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the window (default: 5, or seconds/2 if shorter)",
    )
    parser.add_argument("--rates", default="2000,max", help="scenarios: msg/s numbers and/or 'max'")
    parser.add_argument("--max-rate", type=float, default=60_000.0, help="simulator rate of the max scenario")
    parser.add_argument("--profile", action="store_true", help="cProfile the max scenario's steady window")
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = min(5.0, args.seconds / 2)
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} seconds={args.seconds:g} "
          f"warmup={args.warmup:g} rates={args.rates} max_rate={args.max_rate:g}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cqt_ingest_") as tmp:
        workdir = Path(tmp)
        pg_dir = workdir / "pg"
        os.chmod(workdir, 0o755)  # the embedded server runs as the pgserver user when we are root
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded.start(pg_dir)
        try:
            for rate_arg in args.rates.split(","):
                scenario(rate_arg.strip(), args, server, workdir)
        finally:
            embedded.stop(pg_dir)


if __name__ == "__main__":
    main()
