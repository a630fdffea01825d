"""Exclusive advisory file locks that live as long as their holder process.

Used where two bots started from one directory must not share a file: each spool subdirectory and the
`bot.log` name. The kernel drops a `flock` when its process dies, however it dies, so a free lock means
its owner is gone.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_lock(path: Path) -> int | None:
    """The open descriptor holding an exclusive lock on `path` (created if missing), or None if another
    process holds it. Keep the descriptor open for as long as the lock is needed; `os.close` releases it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd
