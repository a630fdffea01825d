"""A bounded on-disk spool of write batches, kept while PostgreSQL is unreachable.

One file per batch, named by a sequence number so replay happens in the order the batches were made.
A file is written to a temporary name, fsynced and renamed, so a crash never leaves half a batch behind.
Replayed batches are inserted idempotently and only then deleted, so a crash between the two replays the
batch again harmlessly. The format is JSON lines (a header, then one row per line), timestamps as integer
microseconds since the epoch: readable with standard tools during an incident. A file that cannot be
read back (damaged on disk, edited by hand) is moved to `rejected/` with the reason, so it cannot block
the batches behind it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILE = re.compile(r"^(\d{12})\.batch$")

Row = tuple[Any, ...]
Batch = dict[str, list[Row]]


class SpoolFullError(RuntimeError):
    """The spool reached its byte limit: an alarm condition, never a silent drop."""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        delta = value - _EPOCH
        return {"t": (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if obj.keys() == {"t"}:
        return _EPOCH + timedelta(microseconds=obj["t"])
    return obj


@dataclass(frozen=True)
class SpooledBatch:
    """A batch read back from the spool."""

    path: Path
    seq: int
    tables: Batch

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


class Spool:
    """Ordered, bounded, crash-safe batch files in `directory`."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("spool max_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.tmp"):  # a crash mid-write: the batch was never acknowledged
            stale.unlink()
        existing = self._files()
        self._next_seq = (existing[-1][0] + 1) if existing else 1

    def _files(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = _FILE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    @property
    def depth(self) -> int:
        """Number of batches waiting for replay."""
        return len(self._files())

    @property
    def bytes_used(self) -> int:
        """Bytes of all waiting batches."""
        return sum(path.stat().st_size for _, path in self._files())

    def append(self, tables: Batch, columns: Mapping[str, Sequence[str]]) -> Path:
        """Persist one batch; raise SpoolFullError (and write nothing) if it would exceed the limit."""
        lines = []
        for table, rows in tables.items():
            if rows:
                lines.append(json.dumps({"table": table, "columns": list(columns[table]), "n": len(rows)}))
                lines.extend(json.dumps(list(row), default=_encode, allow_nan=True) for row in rows)
        if not lines:
            raise ValueError("refusing to spool an empty batch")
        payload = ("\n".join(lines) + "\n").encode()
        if self.bytes_used + len(payload) > self.max_bytes:
            raise SpoolFullError(
                f"spool {self.directory} is full ({self.bytes_used} of {self.max_bytes} bytes);"
                f" a batch of {len(payload)} bytes is held in memory until PostgreSQL returns"
            )
        seq = self._next_seq
        self._next_seq += 1
        final = self.directory / f"{seq:012d}.batch"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        return final

    def batches(self) -> Iterator[SpooledBatch]:
        """Waiting batches, oldest first; an unreadable file is set aside in `rejected/` and skipped."""
        for seq, path in self._files():
            try:
                batch = self._read(seq, path)
            except (ValueError, KeyError, TypeError) as exc:  # JSON, UTF-8 and layout errors
                self._set_aside(path, exc)
                continue
            yield batch

    def _set_aside(self, path: Path, exc: Exception) -> None:
        rejected = self.directory / "rejected"
        rejected.mkdir(exist_ok=True)
        # sequence numbers restart once the spool is empty: the time keeps names apart
        kept = rejected / f"unreadable_{time.time_ns()}_{path.name}"
        os.replace(path, kept)
        kept.with_suffix(".error").write_text(f"{type(exc).__name__}: {exc}\n")
        log.error("spooled batch %s cannot be read (%s); moved to %s", path.name, exc, kept)

    @staticmethod
    def _read(seq: int, path: Path) -> SpooledBatch:
        tables: Batch = {}
        current: list[Row] | None = None
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                obj = json.loads(line, object_hook=_decode)
                if isinstance(obj, dict):
                    current = tables.setdefault(str(obj["table"]), [])
                elif current is not None:
                    current.append(tuple(obj))
                else:
                    raise ValueError(f"{path}: row before any table header")
        return SpooledBatch(path, seq, tables)

    @staticmethod
    def remove(batch: SpooledBatch) -> None:
        """Delete a batch after its rows were committed."""
        batch.path.unlink(missing_ok=True)
