"""The on-disk spool: ordered, bounded, crash-safe, lossless for every value type the writer uses."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cqt.store.spool import Spool, SpoolFullError

COLUMNS = {"trades": ("exchange", "symbol", "trade_id", "ts", "recv_ts", "price", "qty", "side")}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(values, values, values), min_size=1, max_size=20))
def test_roundtrip_is_exact(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[object, ...]]) -> None:
    spool = Spool(tmp_path_factory.mktemp("spool"), max_bytes=10**7)
    spool.append({"t": list(rows)}, {"t": ("a", "b", "c")})
    (batch,) = list(spool.batches())
    assert batch.tables["t"] == list(rows)


def test_nan_survives(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6)
    spool.append({"t": [(float("nan"), 1.0)]}, {"t": ("a", "b")})
    (batch,) = list(spool.batches())
    assert math.isnan(batch.tables["t"][0][0])  # type: ignore[arg-type]


def test_order_is_kept_across_restarts_and_removal(tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    spool = Spool(tmp_path, max_bytes=10**6)
    for i in range(3):
        spool.append({"trades": [("binance", "BTCUSDT", i, t0, t0, 1.0, 1.0, 1)]}, COLUMNS)
    reopened = Spool(tmp_path, max_bytes=10**6)
    first = next(reopened.batches())
    reopened.remove(first)
    reopened.append(
        {"trades": [("binance", "BTCUSDT", 3, t0 + timedelta(seconds=1), t0, 1.0, 1.0, -1)]}, COLUMNS
    )
    ids = [b.tables["trades"][0][2] for b in reopened.batches()]
    assert ids == [1, 2, 3]
    assert reopened.depth == 3


def test_half_written_file_is_discarded(tmp_path: Path) -> None:
    (tmp_path / "000000000001.tmp").write_text('{"table": "trades"')
    spool = Spool(tmp_path, max_bytes=10**6)
    assert spool.depth == 0
    assert not list(tmp_path.glob("*.tmp"))


def test_full_spool_refuses_and_writes_nothing(tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    spool = Spool(tmp_path, max_bytes=400)
    row = ("binance", "BTCUSDT", 1, t0, t0, 1.0, 1.0, 1)
    spool.append({"trades": [row]}, COLUMNS)
    used = spool.bytes_used
    with pytest.raises(SpoolFullError, match="is full"):
        spool.append({"trades": [row] * 10}, COLUMNS)
    assert spool.bytes_used == used and spool.depth == 1
