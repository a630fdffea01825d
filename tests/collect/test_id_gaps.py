"""aggTrade id continuity against a brute-force reference on random delivery orders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cqt.collect.id_gaps import IdContinuity


def test_contiguous_stream_has_no_gap() -> None:
    tracker = IdContinuity(grace_ms=100)
    for i in range(100, 200):
        assert tracker.observe(i, i * 10, now_ms=0)
    assert tracker.confirmed(now_ms=10_000) == []


def test_hole_is_pending_then_confirmed_with_times() -> None:
    tracker = IdContinuity(grace_ms=1_000)
    tracker.observe(10, 1_000, now_ms=0)
    tracker.observe(15, 1_500, now_ms=0)  # 11..14 missing
    assert tracker.pending == 4
    assert tracker.confirmed(now_ms=999) == []
    (gap,) = tracker.confirmed(now_ms=1_000)
    assert (gap.from_id, gap.to_id, gap.start_ms, gap.end_ms, gap.size) == (11, 14, 1_000, 1_500, 4)
    assert tracker.confirmed(now_ms=5_000) == []  # reported once


def test_resume_after_an_earlier_run_makes_the_first_jump_a_hole() -> None:
    tracker = IdContinuity(grace_ms=1_000)
    tracker.resume_after(100, 5_000)  # the newest id the previous run stored
    assert tracker.observe(131, 9_000, now_ms=0)
    (gap,) = tracker.confirmed(now_ms=1_000)
    assert (gap.from_id, gap.to_id, gap.start_ms, gap.end_ms, gap.resumed) == (101, 130, 5_000, 9_000, True)
    # runs that overlap: nothing between them, and the first ids are kept, not taken for duplicates
    overlap = IdContinuity(grace_ms=1_000)
    overlap.resume_after(100, 5_000)
    assert overlap.observe(98, 4_900, now_ms=0) and overlap.observe(99, 4_950, now_ms=0)
    assert overlap.confirmed(now_ms=5_000) == [] and overlap.duplicates == 0


def test_late_frames_within_grace_close_or_split_the_hole() -> None:
    tracker = IdContinuity(grace_ms=1_000)
    for i in (1, 6, 3, 2):
        tracker.observe(i, i, now_ms=0)
    gaps = tracker.confirmed(now_ms=2_000)
    assert [(g.from_id, g.to_id) for g in gaps] == [(4, 5)]
    tracker.observe(7, 7, now_ms=3_000)
    tracker.observe(9, 9, now_ms=3_000)
    tracker.observe(8, 8, now_ms=3_100)
    assert tracker.confirmed(now_ms=9_000) == []


def test_duplicates_are_counted_not_reordered_into_gaps() -> None:
    tracker = IdContinuity()
    assert tracker.observe(5, 5, 0)
    assert not tracker.observe(5, 5, 0)
    assert tracker.observe(6, 6, 0)
    assert not tracker.observe(5, 5, 0)
    assert tracker.duplicates == 2


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=1, max_value=60),
)
def test_confirmed_gaps_are_exactly_the_ids_never_delivered(data: st.DataObject, n: int) -> None:
    ids = list(range(1000, 1000 + n))
    delivered = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3 * n))
    delivered = [ids[0], *delivered]  # the first id anchors the sequence
    tracker = IdContinuity(grace_ms=10)
    for agg_id in delivered:
        tracker.observe(agg_id, agg_id, now_ms=0)
    gaps = tracker.confirmed(now_ms=10)
    reported = sorted(i for g in gaps for i in range(g.from_id, g.to_id + 1))
    newest = max(delivered)
    expected = sorted(set(range(ids[0], newest + 1)) - set(delivered))
    assert reported == expected
    assert all(g.from_id <= g.to_id for g in gaps)
    assert tracker.duplicates == len(delivered) - len(set(delivered))
