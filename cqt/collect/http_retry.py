"""What a venue's ``Retry-After`` header asks for, shared by the Binance and Upbit REST clients."""

from __future__ import annotations

from collections.abc import Mapping


def retry_after(headers: Mapping[str, str], default: float) -> float:
    """Seconds to wait; ``default`` when the header is absent or not a number (it may be an HTTP date)."""
    try:
        return max(0.0, float(headers.get("Retry-After", default)))
    except ValueError:
        return default
