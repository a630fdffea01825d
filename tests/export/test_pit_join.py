"""The vectorised ``latest_usable`` join against a per-t0 loop written from the contract's rule."""

from __future__ import annotations

import numpy as np
import pytest

from cqt.export.pit_join import gather, latest_usable


def brute(ts: list[int], recv: list[int], t0: int, max_age: int | None) -> int:
    usable = [i for i in range(len(ts)) if ts[i] <= t0 and recv[i] <= t0]
    if max_age is not None:
        usable = [i for i in usable if ts[i] > t0 - max_age]
    return max(usable, key=lambda i: ts[i]) if usable else -1


@pytest.mark.parametrize("seed", range(20))
def test_matches_the_rule_with_out_of_order_arrivals(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    ts = rng.choice(np.arange(0, 400), size=n, replace=False).astype(np.int64)
    recv = ts + rng.integers(0, 5, n)
    late = rng.random(n) < 0.2  # backfills: usable long after newer rows
    recv[late] += rng.integers(20, 150, int(late.sum()))
    t0 = rng.integers(-10, 560, 200).astype(np.int64)
    for max_age in (None, 15):
        got = latest_usable(ts, recv, t0, max_age)
        want = [brute(ts.tolist(), recv.tolist(), int(t), max_age) for t in t0]
        assert got.tolist() == want


def test_backfilled_row_does_not_replace_a_newer_one() -> None:
    # row 0 (ts 10) arrives at 100, after row 1 (ts 20) arrived at 25: from 100 on row 1 is still the latest
    ts = np.array([10, 20], dtype=np.int64)
    recv = np.array([100, 25], dtype=np.int64)
    t0 = np.array([9, 24, 25, 99, 100, 200], dtype=np.int64)
    assert latest_usable(ts, recv, t0, None).tolist() == [-1, -1, 1, 1, 1, 1]
    # with a max age the selected row must also be young enough: ts 20 > t0 - max_age
    assert latest_usable(ts, recv, t0, 100).tolist() == [-1, -1, 1, 1, 1, -1]
    assert latest_usable(ts, recv, t0, 50).tolist() == [-1, -1, 1, -1, -1, -1]


def test_gather_gives_nan_where_nothing_is_usable() -> None:
    values = np.array([1.5, 2.5])
    assert np.array_equal(gather(values, np.array([1, -1, 0])), [2.5, np.nan, 1.5], equal_nan=True)
    assert np.isnan(gather(np.zeros(0), np.array([-1, -1]))).all()
