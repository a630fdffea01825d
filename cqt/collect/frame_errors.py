"""Malformed frames: counted per stream and logged with a sample, sparsely, so a venue that starts sending
garbage cannot flood the log (the first few, then every 1000th)."""

from __future__ import annotations

import logging
from collections import Counter

SAMPLE_CHARS = 200
FIRST_LOGGED = 3
LOG_EVERY = 1000


def count_malformed(
    log: logging.Logger, venue: str, counts: Counter[str], stream: str, reason: object, data: str | bytes
) -> None:
    """Count one skipped frame of `stream` and log it if it is among the sampled ones."""
    counts[stream] += 1
    count = counts[stream]
    if count <= FIRST_LOGGED or count % LOG_EVERY == 0:
        sample = (
            data[:SAMPLE_CHARS] if isinstance(data, str) else data[:SAMPLE_CHARS].decode(errors="replace")
        )
        log.warning("%s %s: malformed frame #%d skipped (%s): %r", venue, stream, count, reason, sample)
