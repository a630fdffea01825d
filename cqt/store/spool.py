"""A bounded on-disk spool of write batches, kept while PostgreSQL is unreachable.

One file per batch, named by a sequence number so replay happens in the order the batches were made.
A file is written to a temporary name, fsynced and renamed, so a crash never leaves half a batch behind.
Replayed batches are inserted idempotently and only then deleted, so a crash between the two replays the
batch again harmlessly. The format is JSON lines (a header, then one row per line), timestamps as integer
microseconds since the epoch: readable with standard tools during an incident. A file that cannot be
read back (damaged on disk, edited by hand) is moved to `rejected/` with the reason, so it cannot block
the batches behind it.

Every bot process spools into a directory of its own, `SPOOL_DIR/<start time>-<pid>-<tag>/`, held with an
exclusive `flock` for the life of the process (`Spool.claim`), so two bots started from one directory
never overwrite each other's files. At start a bot adopts the batches of every subdirectory whose lock is
free (its bot is gone: crashed, killed, or stopped while PostgreSQL was away) and of the flat layout of
earlier versions, so no spool is ever stranded. Rows PostgreSQL refuses and unreadable files go to
`SPOOL_DIR/rejected/<start time>-<pid>-<tag>/`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cqt.flock import try_lock

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILE = re.compile(r"^(\d{12})\.batch$")
# A process's subdirectory: UTC start time, pid and a random tag (containers sharing a volume may all run
# as pid 1, and one process may open several spools).
_OWNER = re.compile(r"^\d{8}T\d{6}-\d+-[0-9a-f]{8}$")
LOCK_NAME = "lock"

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

    def __init__(self, directory: Path, max_bytes: int, *, rejected_dir: Path | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("spool max_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.rejected_dir = rejected_dir or directory / "rejected"
        self._lock: int | None = None  # the flock of a claimed directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.tmp"):  # a crash mid-write: the batch was never acknowledged
            stale.unlink()
        existing = _files(directory)
        self._next_seq = (existing[-1][0] + 1) if existing else 1

    @classmethod
    def claim(cls, root: Path, max_bytes: int) -> Spool:
        """This process's own spool under `root`, locked until `release()` or the process ends, holding the
        batches of every unlocked (orphaned) subdirectory and of the flat layout of earlier versions."""
        root.mkdir(parents=True, exist_ok=True)
        owner = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}-{secrets.token_hex(4)}"
        # Built under a name no other bot adopts, then renamed: a neighbour scanning meanwhile never sees
        # this directory unlocked.
        building = root / f".{owner}.new"
        building.mkdir()
        lock = try_lock(building / LOCK_NAME)
        assert lock is not None  # nobody else knows the name yet
        final = root / owner
        os.rename(building, final)
        spool = cls(final, max_bytes, rejected_dir=root / "rejected" / owner)
        spool._lock = lock
        spool._adopt(root)
        return spool

    def _adopt(self, root: Path) -> None:
        orphans = [d for d in sorted(root.iterdir()) if _OWNER.match(d.name) and d != self.directory]
        for source in [root, *orphans]:
            lock = None if source == root else _lock_if_gone(source)
            if source != root and lock is None:
                continue  # its bot is running
            try:
                moved = self._take_batches(source)
            finally:
                if lock is not None:
                    _remove_dir(source)
                    os.close(lock)
            if moved:
                log.warning("adopted %d spooled batch(es) left in %s by a bot that is gone", moved, source)

    def _take_batches(self, source: Path) -> int:
        moved = 0
        try:
            found = _files(source)
        except FileNotFoundError:  # adopted and removed by a neighbour meanwhile
            return 0
        for _, path in found:
            try:  # a rename moves each file exactly once, even with a neighbour adopting at the same time
                os.replace(path, self.directory / f"{self._next_seq:012d}.batch")
            except FileNotFoundError:
                continue
            self._next_seq += 1
            moved += 1
        return moved

    def release(self) -> None:
        """Give up a claimed directory: removed when empty, else left (unlocked) for the next bot to adopt."""
        if self._lock is None:
            return
        with contextlib.suppress(OSError):  # a broken directory stays as it is, for a person to look at
            if not self.depth:
                _remove_dir(self.directory)
        os.close(self._lock)
        self._lock = None

    @property
    def depth(self) -> int:
        """Number of batches waiting for replay."""
        return len(_files(self.directory))

    @property
    def bytes_used(self) -> int:
        """Bytes of all waiting batches."""
        return sum(path.stat().st_size for _, path in _files(self.directory))

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
        final = self.directory / f"{self._next_seq:012d}.batch"
        tmp = final.with_suffix(".tmp")
        self._write_file(tmp, payload)
        os.replace(tmp, final)
        self._next_seq += 1
        return final

    def probe(self) -> None:
        """Raise the OSError a batch written now would meet (disk full, not writable, not a directory)."""
        path = self.directory / "probe.tmp"
        self._write_file(path, b"probe\n")
        path.unlink()

    def _write_file(self, path: Path, payload: bytes) -> None:
        """Write and fsync `path`; on failure nothing is left behind (a partial file would eat the space)."""
        try:
            with open(path, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise

    def batches(self) -> Iterator[SpooledBatch]:
        """Waiting batches, oldest first; an unreadable file is set aside in `rejected/` and skipped."""
        for seq, path in _files(self.directory):
            try:
                batch = self._read(seq, path)
            except (ValueError, KeyError, TypeError) as exc:  # JSON, UTF-8 and layout errors
                self._set_aside(path, exc)
                continue
            yield batch

    def _set_aside(self, path: Path, exc: Exception) -> None:
        rejected = self.rejected_dir
        rejected.mkdir(parents=True, exist_ok=True)
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


def _files(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _lock_if_gone(directory: Path) -> int | None:
    """The lock of a process's spool directory if its owner is gone; None while it runs (or if the
    directory was just removed by a neighbour that adopted it)."""
    try:
        return try_lock(directory / LOCK_NAME)
    except FileNotFoundError:
        return None


def _remove_dir(directory: Path) -> None:
    """Remove an emptied spool directory (its lock and never acknowledged `.tmp` files included); anything
    unexpected in it stays."""
    for stale in directory.glob("*.tmp"):
        stale.unlink(missing_ok=True)
    (directory / LOCK_NAME).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError as exc:
        log.warning("spool directory %s not removed (%s)", directory, exc.strerror or exc)
