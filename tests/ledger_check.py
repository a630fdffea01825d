"""Stored trades against the simulator's ledger: the one nothing-lost comparison of the fault tests.

The reference is what the simulator sent between the first and the last trade id stored for the shard
(before and after that span no collector was listening; Upbit's simulated sequential ids grow with time,
so the span works for both venues). Inside it every sent id must be stored once and nothing else:

* ``missing``: sent, not stored;
* ``unknown``: stored, never sent (a corrupted or invented id);
* ``duplicated``: stored more than once under the shard's key (the primary key should make it 0; the
  comparison says so rather than assuming it).

With ``CQT_FAULT_MATRIX`` set to a file, each comparison is appended to it as a JSON line, which
``bench/fault_matrix.py`` turns into the fault matrix of bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from cqt.sim import SimServer

MATRIX_ENV = "CQT_FAULT_MATRIX"


@dataclass(frozen=True)
class TradeCheck:
    """One shard of one fault case."""

    case: str
    exchange: str
    symbol: str
    sent: int  # ids the simulator sent inside the stored span
    stored: int
    missing: int
    unknown: int
    duplicated: int

    @property
    def exact(self) -> bool:
        return self.missing == self.unknown == self.duplicated == 0


def sent_trade_ids(sim: SimServer, symbol: str = "BTCUSDT", market: str = "KRW-BTC") -> dict[str, list[int]]:
    """The trade ids the simulator sent for one Binance symbol and one Upbit market, by exchange."""
    return {"binance": sim.ledger.binance_trade_ids(symbol), "upbit": sim.ledger.upbit_trade_ids(market)}


def stored_trade_ids(conninfo: str, exchange: str, symbol: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        q = "SELECT trade_id FROM trades WHERE exchange = %s AND symbol = %s ORDER BY trade_id"
        return [int(r[0]) for r in conn.execute(q, (exchange, symbol))]


def check_trades(
    conninfo: str, case: str, exchange: str, symbol: str, sent_ids: Sequence[int], *, minimum: int = 50
) -> TradeCheck:
    """Compare, record (see module doc) and assert: at least `minimum` trades stored, none missing,
    unknown or duplicated."""
    stored = stored_trade_ids(conninfo, exchange, symbol)
    assert len(stored) >= minimum, f"{case}: only {len(stored)} {exchange} {symbol} trades stored"
    expected = {i for i in sent_ids if stored[0] <= i <= stored[-1]}
    unique = set(stored)
    check = TradeCheck(
        case=case,
        exchange=exchange,
        symbol=symbol,
        sent=len(expected),
        stored=len(stored),
        missing=len(expected - unique),
        unknown=len(unique - set(sent_ids)),
        duplicated=len(stored) - len(unique),
    )
    _record(check)
    missing = sorted(expected - unique)[:5]
    assert check.exact, f"{check} (first missing: {missing})"
    return check


def _record(check: TradeCheck) -> None:
    target = os.environ.get(MATRIX_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(check)) + "\n")
