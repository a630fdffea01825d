"""Which bot runs wrote the data of an export range, and the refusal to mix sources.

Each source has its own database (docs/design.md §6.2), so a live export never reads simulated rows unless
the settings point both sources at one server. The raw tables carry no source, but every collection
session is a `bot_runs` row with one: an export lists the runs whose time span meets its range in the
metadata (`source`, `bot_runs`), and refuses the range when one of them is of the other source, since its
rows cannot be told apart from the requested source's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cqt.export.spec import ExportError

# A run that never stopped (crash, kill) ends at its last heartbeat.
_RUNS = """
SELECT run_id, source FROM bot_runs
 WHERE started_at < %(end)s AND coalesce(stopped_at, heartbeat_at) >= %(start)s
 ORDER BY run_id
"""


@dataclass(frozen=True)
class RangeRuns:
    """The bot runs of one source whose span meets an export range."""

    source: str
    run_ids: tuple[int, ...]

    def as_json(self) -> dict[str, object]:
        return {"source": self.source, "bot_runs": list(self.run_ids)}


def range_runs(conn: psycopg.Connection[Any], source: str, start: datetime, end: datetime) -> RangeRuns:
    """The runs of `source` in ``[start, end)``; ExportError when a run of another source is there too."""
    rows = conn.execute(_RUNS, {"start": start, "end": end}).fetchall()
    other = {int(run_id): str(src) for run_id, src in rows if src != source}
    if other:
        ids = ", ".join(str(i) for i in sorted(other))
        sources = " and ".join(sorted(set(other.values())))
        raise ExportError(
            f"this database holds {sources} bot runs in the range (run {ids}): their rows cannot be told"
            f" apart from {source} rows, so the export would mix them; export with --source"
            f" {sorted(set(other.values()))[0]}, pick a range without them, or give each source its own"
            " database (DB_URL and SIM_DB_URL must differ)"
        )
    return RangeRuns(source, tuple(int(run_id) for run_id, _ in rows))
