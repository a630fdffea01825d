"""Type stub of the Rust extension `cqt._core` (built from `core_rs/src/py.rs`)."""

import numpy as np
from numpy.typing import NDArray

_U32 = NDArray[np.uint32]
_I64 = NDArray[np.int64]
_F64 = NDArray[np.float64]
_Bool = NDArray[np.bool_]

def version() -> str:
    """Version of the Rust core crate."""

def aggregate_bars(
    symbol: _U32,
    ts: _I64,
    price: _F64,
    qty: _F64,
    taker_buy: _Bool,
    quotes: tuple[_U32, _I64, _F64, _F64, _F64, _F64] | None = None,
    gaps: tuple[_U32, _I64, _I64] | None = None,
    threads: int = 1,
) -> dict[str, NDArray[np.generic]]:
    """One-second bars; raises ValueError naming the row on invalid input."""

class StreamAggregator:
    """Streaming one-second bar aggregator (watermark, revisions, late-trade counting)."""

    def __init__(self, grace_ms: int, lateness_ms: int, with_quotes: bool) -> None: ...
    def push_trades(
        self, symbol: _U32, ts: _I64, price: _F64, qty: _F64, taker_buy: _Bool
    ) -> dict[str, NDArray[np.generic]]: ...
    def push_quotes(
        self, symbol: _U32, ts: _I64, bid: _F64, bid_qty: _F64, ask: _F64, ask_qty: _F64
    ) -> dict[str, NDArray[np.generic]]: ...
    def flush(self) -> dict[str, NDArray[np.generic]]: ...
    @property
    def late_dropped(self) -> int: ...
    @property
    def late_dropped_quotes(self) -> int: ...
    @property
    def watermark(self) -> int | None: ...

def compute_labels(
    ts: _I64,
    close: _F64,
    high: _F64,
    low: _F64,
    symbol: _U32 | None,
    gap: _Bool | None,
    spread_bps: _F64 | None,
    horizon_s: int,
    kind: str,
    r_fixed: float | None,
    window_s: int,
    min_returns: int,
    k: float,
    r_min: float,
    r_max: float,
    cost_mult: float,
    fee: float,
    slippage: float,
    threads: int,
) -> dict[str, NDArray[np.generic]]:
    """Labels per bar; raises ValueError naming the row on invalid input."""
