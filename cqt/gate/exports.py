"""Dataset exports as gate evidence: run the export command, then read back what it wrote.

A gate trusts the file, not the command's word: the Parquet footer must read, hold rows, carry the `cqt`
metadata document of the dataset contract, and be newer than the command run that should have written it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from cqt.gate.commands import EXPORT, Completed, run
from cqt.gate.items import GUIDES
from cqt.gate.verdict import GateFailure

EXPORT_TIMEOUT_S = 1_800.0
VIOLATION = "label_ts_violation"
# "≈ 0" of ALT-5 item 5: at most one row in a thousand dropped because its label came before t0 + H.
VIOLATION_SHARE = 0.001


@dataclass(frozen=True)
class ExportFile:
    """A written dataset (one file, or the files of a day-partitioned directory)."""

    path: Path
    files: int
    size_bytes: int
    rows: int
    meta: dict[str, Any]
    modified: float  # the newest file's mtime (epoch seconds)

    def dropped(self, reason: str) -> int:
        """Rows the export dropped for `reason`, from the `cqt` metadata (summed over partitions)."""
        return int(self.meta.get("dropped", {}).get(reason, 0))

    def describe(self) -> str:
        """Size, rows, drops, label distribution and realised volatility."""
        dist = self.meta.get("label_distribution") or {}
        total = sum(int(v) for v in dist.values())
        shares = (
            ", ".join(f"{k} {v} ({100 * int(v) / total:.1f} %)" for k, v in dist.items()) if total else "none"
        )
        vol = self.meta.get("realised_vol") or {}
        sigma = vol.get("sigma_1s")
        vol_text = (
            "n/a"
            if sigma is None
            else f"sigma_1s {sigma:.3e}, over the horizon {100 * vol.get('horizon', 0):.4f} %"
        )
        dropped = ", ".join(f"{k} {v}" for k, v in (self.meta.get("dropped") or {}).items())
        return (
            f"{self.path} ({self.files} file(s), {self.size_bytes} bytes): {self.rows} rows; dropped: {dropped};"
            f" labels: {shares}; realised vol: {vol_text}"
        )


def read_export(path: Path) -> ExportFile:
    """Read back an export; OSError or pyarrow errors when it is missing or unreadable."""
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"{path} holds no .parquet file")
    rows, size, modified = 0, 0, 0.0
    meta: dict[str, Any] = {}
    for file in files:
        footer = pq.read_metadata(file)
        rows += footer.num_rows
        stat = file.stat()
        size, modified = size + stat.st_size, max(modified, stat.st_mtime)
        part = json.loads((footer.metadata or {}).get(b"cqt", b"{}"))
        meta = _merge(meta, part)
    with pq.ParquetFile(files[0]) as first:  # the data pages decode, not only the footer
        next(first.iter_batches(batch_size=1), None)
    return ExportFile(path, len(files), size, rows, meta, modified)


def _merge(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """Partition documents add up their counts; the rest is taken from the first file."""
    if not total:
        return part
    merged = dict(total)
    for key in ("dropped", "label_distribution"):
        counts = dict(total.get(key) or {})
        for name, n in (part.get(key) or {}).items():
            counts[name] = int(counts.get(name, 0)) + int(n)
        merged[key] = counts
    return merged


def export(
    root: Path, output: Path, horizon_s: int, last: str, source: str, env: dict[str, str] | None = None
) -> Completed:
    """Run the export command the ALT reports name, on the database of the judged bot's `source`."""
    return run(
        EXPORT.argv("--output", str(output), "--horizon", str(horizon_s), "--last", last, "--source", source),
        root,
        EXPORT_TIMEOUT_S,
        env,
    )


def judge_export(root: Path, done: Completed | str, output: Path, started_wall: float) -> ExportFile:
    """The export as written, or GateFailure: missing command, failed run, stale, empty or unreadable file."""
    if isinstance(done, str):
        raise GateFailure(f"{done} — {GUIDES['entrypoint']}")
    if done.code != 0:
        guide = GUIDES["export"] if done.code == 2 else GUIDES["entrypoint"]
        raise GateFailure(f"`{done.shown}` {done.outcome()}: {done.tail()} — {guide}")
    target = root / output
    try:
        written = read_export(target)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise GateFailure(f"{output} is not a readable Parquet dataset: {exc}") from exc
    if written.modified < started_wall - 1:
        raise GateFailure(
            f"{output} was not written by this run (last modified {time.ctime(written.modified)}); `{done.shown}` printed:"
            f" {done.tail()}"
        )
    if written.rows == 0:
        raise GateFailure(f"{output} has 0 rows ({written.describe()}) — {GUIDES['export']}")
    return written
