"""Evidence read from the database: bot runs, Coinglass calls, task events.

Every query is a constant SQL text with parameters (windows via `make_interval`), the same rule gate
ALT-6.3 enforces on the rest of the package.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

# A run whose heartbeat (every 5 s) is older than this is no longer alive; a gap this long between two
# writer_status snapshots of a run breaks its continuity.
STALE_S = 30.0

_RUNS_SQL = """
WITH beats AS (
    SELECT w.run_id, w.ts,
           CASE WHEN w.ts - lag(w.ts) OVER (PARTITION BY w.run_id ORDER BY w.ts) > make_interval(secs => %(gap)s)
                THEN 1 ELSE 0 END AS brk
    FROM writer_status w JOIN bot_runs r USING (run_id)
    WHERE r.source = %(source)s
), segments AS (
    SELECT run_id, ts, sum(brk) OVER (PARTITION BY run_id ORDER BY ts) AS seg FROM beats
), pieces AS (
    SELECT run_id, seg, count(*) AS n, extract(epoch FROM max(ts) - min(ts)) AS seg_len
    FROM segments GROUP BY run_id, seg
), spans AS (
    SELECT run_id, sum(n) AS beats, count(*) AS pieces, max(seg_len) AS longest_piece_s
    FROM pieces GROUP BY run_id
)
SELECT r.run_id, r.started_at, coalesce(r.stopped_at, r.heartbeat_at) AS ended_at, r.stopped_at,
       r.stop_cause, r.stop_detail,
       r.stopped_at IS NULL AND r.heartbeat_at > now() - make_interval(secs => %(gap)s) AS alive,
       extract(epoch FROM now() - r.heartbeat_at)::float8 AS beat_age_s,
       coalesce(s.beats, 0)::int, coalesce(s.pieces, 0)::int, s.longest_piece_s::float8
FROM bot_runs r LEFT JOIN spans s USING (run_id)
WHERE r.source = %(source)s
ORDER BY r.run_id
"""


@dataclass(frozen=True)
class RunSpan:
    """One `bot_runs` row and how continuous it was."""

    run_id: int
    started_at: datetime
    ended_at: datetime
    stopped_at: datetime | None
    stop_cause: str | None
    stop_detail: str | None
    alive: bool
    beat_age_s: float
    snapshots: int
    pieces: int
    longest_piece_s: float | None

    @property
    def span_s(self) -> float:
        """Start to stop (or to the last heartbeat of a run that is still open)."""
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def continuous_s(self) -> float:
        """The span, or the longest stretch between writer_status gaps when the snapshots show one."""
        if self.pieces > 1 and self.longest_piece_s is not None:
            return self.longest_piece_s
        return self.span_s

    def state(self) -> str:
        """How the run ended (or that it is still running), for messages."""
        if self.alive:
            return "still running"
        if self.stopped_at is None:
            return f"no stop recorded, last heartbeat {self.beat_age_s:.0f} s ago"
        detail = f" ({self.stop_detail.splitlines()[-1][:120]})" if self.stop_detail else ""
        return f"stopped {self.stopped_at:%Y-%m-%d %H:%M:%S} UTC, stop cause {self.stop_cause}{detail}"

    def describe(self) -> str:
        """One line: id, start, continuous duration and state."""
        gaps = f", {self.pieces - 1} heartbeat gap(s) > {STALE_S:.0f} s" if self.pieces > 1 else ""
        return (
            f"run {self.run_id} started {self.started_at:%Y-%m-%d %H:%M:%S} UTC, {self.continuous_s:.0f} s"
            f" continuous of {self.span_s:.0f} s{gaps}, {self.state()}"
        )


def probe(conninfo: str) -> str:
    """SELECT 1 on the database; the server version and session time zone, or psycopg.Error."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1, current_setting('server_version'), current_setting('TimeZone')"
        ).fetchone()
    if row is None or row[0] != 1:
        raise psycopg.DataError(f"SELECT 1 returned {row!r}")
    return f"SELECT 1 = 1, PostgreSQL {row[1]}, TimeZone={row[2]}"


def bot_runs(conninfo: str, source: str) -> list[RunSpan]:
    """Every run of `source` ('live' or 'sim'), oldest first."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(_RUNS_SQL, {"source": source, "gap": STALE_S}).fetchall()
    return [RunSpan(*row) for row in rows]


def longest(runs: list[RunSpan]) -> RunSpan | None:
    """The run with the longest continuous stretch."""
    return max(runs, key=lambda r: r.continuous_s, default=None)


def covering(runs: list[RunSpan], window_s: float) -> RunSpan | None:
    """A run alive now that has been running for at least `window_s` (so the window is all bot time)."""
    for run in runs:
        if run.alive and run.continuous_s >= window_s - STALE_S / 6:
            return run
    return None


@dataclass(frozen=True)
class CoinglassCalls:
    """What `coinglass_call_status` holds for a window."""

    total: int
    ok: int
    last_ok: datetime | None
    failures: list[tuple[str, int]]

    def describe(self) -> str:
        """Counts, the newest ok call and the most frequent failure kinds."""
        text = f"{self.ok} ok of {self.total} calls"
        if self.last_ok is not None:
            text += f", newest ok {self.last_ok:%Y-%m-%d %H:%M:%S} UTC"
        if self.failures:
            text += "; failures: " + ", ".join(f"{kind} x{n}" for kind, n in self.failures)
        return text


def coinglass_calls(conninfo: str, window_s: float) -> CoinglassCalls:
    """Coinglass calls whose `ts` lies in the last `window_s` seconds."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        head = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE ok), max(ts) FILTER (WHERE ok) FROM coinglass_call_status"
            " WHERE ts > now() - make_interval(secs => %s)",
            (window_s,),
        ).fetchone()
        kinds = conn.execute(
            "SELECT endpoint || ': HTTP ' || coalesce(http_status::text, '-') || ' code '"
            " || coalesce(body_code, '-') || coalesce(' ' || left(error, 80), ''), count(*)"
            " FROM coinglass_call_status WHERE NOT ok AND ts > now() - make_interval(secs => %s)"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 3",
            (window_s,),
        ).fetchall()
    assert head is not None
    return CoinglassCalls(int(head[0]), int(head[1]), head[2], [(str(k), int(n)) for k, n in kinds])


def top_event_messages(conninfo: str, run_id: int, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent crash/give-up messages of a run's tasks (first line of each detail)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT component, kind, coalesce(detail, '') FROM bot_events WHERE run_id = %s AND kind <> 'restart'",
            (run_id,),
        ).fetchall()
    counts = Counter(f"{kind} {component}: {_last_line(detail)}" for component, kind, detail in rows)
    return counts.most_common(limit)


def _last_line(text: str) -> str:
    # a traceback's last line names the exception; that is what tells two crashes apart
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no detail)"


_LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>WARNING|ERROR|CRITICAL) (?P<name>[\w.]+): (?P<msg>.*)$")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def log_messages(log_dir: Path, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent warning/error lines of the bot log (and its rotations), numbers folded to `#`."""
    counts: Counter[str] = Counter()
    for path in sorted(log_dir.glob("bot.log*")):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                found = _LOG_LINE.match(line.rstrip("\n"))
                if found:
                    counts[f"{found['level']} {found['name']}: {_NUMBER.sub('#', found['msg'])[:160]}"] += 1
    return counts.most_common(limit)
