"""Frames that could not be used: counted per stream (the exported `malformed` counter) and per (stream, kind),
and logged with a sample, sparsely, so a venue that starts sending garbage cannot flood the log (the first
few, then every 1000th). The kind is the rule a `MalformedFrame` broke (shape, id, time, value, book,
unsubscribed) or, for anything else raised while handling the frame, the exception's class name
(a RecursionError from deeply nested JSON, an OverflowError): none of them may end a read loop."""

from __future__ import annotations

import logging
from collections import Counter

from cqt.collect.rows import MalformedFrame

SAMPLE_CHARS = 200
FIRST_LOGGED = 3
LOG_EVERY = 1000


def error_kind(exc: Exception) -> str:
    """The per-kind counter key of `exc`."""
    return exc.kind if isinstance(exc, MalformedFrame) else type(exc).__name__


def count_malformed(
    log: logging.Logger,
    venue: str,
    counts: Counter[str],
    kinds: Counter[tuple[str, str]],
    stream: str,
    exc: Exception,
    data: str | bytes,
) -> None:
    """Count one skipped frame of `stream` and log it if it is among the sampled ones."""
    counts[stream] += 1
    kinds[stream, error_kind(exc)] += 1
    count = counts[stream]
    if count <= FIRST_LOGGED or count % LOG_EVERY == 0:
        sample = (
            data[:SAMPLE_CHARS] if isinstance(data, str) else data[:SAMPLE_CHARS].decode(errors="replace")
        )
        log.warning(
            "%s %s: malformed frame #%d skipped (%s: %s): %r",
            venue,
            stream,
            count,
            error_kind(exc),
            str(exc)[:SAMPLE_CHARS],
            sample,
            exc_info=not isinstance(exc, ValueError),  # not bad JSON or a broken rule: where it came from
        )
