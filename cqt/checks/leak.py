"""leak: a point-in-time audit of what was stored, against what the raw tables allowed at ``t0``.

Measurements:

* ``predictions audited``: a random sample of ``CHECK_LEAK_SAMPLE`` predictions in the window (at least
  one must exist). For each, every feature is recomputed by :mod:`cqt.checks.leak_reference` from rows
  with ``ts <= t0 AND recv_ts <= t0`` only, and compared with the stored ``features`` with the dataset
  contract's tolerance (:func:`~cqt.checks.leak_dataset.close_enough`). ``feature_mismatches`` must be 0;
  the first few are named with both values.
  A prediction whose look-back contains a bar revised after ``t0`` (``revision > 0``, ``recv_ts > t0``:
  the version the predictor saw is overwritten) cannot be recomputed and is counted as unverifiable
  instead. A bar first received after ``t0`` (``revision = 0``) is not an excuse: using it is the leak.
* ``created_before_t0`` (``created_at < ts``) and ``label_before_horizon`` (``label_ts < ts + H``) over
  every prediction in the window: both 0.
* Polled metrics (``period_s`` set) received in the window must be stamped with their period end
  (docs/design.md §2): ``metric_stamps_off_grid`` = rows whose ``ts`` is off the period grid (multiples of
  ``period_s``; weeks may also start on Monday), e.g. a row stamped with its poll time;
  ``metric_stamps_after_recv`` = rows with ``ts > recv_ts + CHECK_MAX_CLOCK_SKEW_S``: a period that had
  not ended when the value arrived (a partial period stamped as complete). Both 0.
* With ``--dataset PATH``: the export audit of :mod:`cqt.checks.leak_dataset` (dataset contract).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cqt.checks.context import CheckContext
from cqt.checks.leak_dataset import audit_dataset, close_enough
from cqt.checks.leak_reference import THRESHOLD, Reference, reference
from cqt.checks.result import Measurement, at_least, equals
from cqt.checks.run import main
from cqt.predict.features import collected_upbit_market

NAME = "leak"
SHOW = 3
WEEK_S = 604_800
MONDAY_OFFSET_S = 4 * 86_400  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class Mismatch:
    prediction_id: int
    t0: datetime
    feature: str
    stored: float | None
    recomputed: float | None

    def __str__(self) -> str:
        return (
            f"prediction {self.prediction_id} at {self.t0.isoformat()}:"
            f" {self.feature} stored {self.stored!r},"
            f" recomputed {self.recomputed!r}"
        )


def expected_values(stored: dict[str, Any], ref: Reference) -> dict[str, float | None]:
    """What the stored features must be, given the reference and the documented min_returns latitude."""
    want = dict(ref.values)
    few = ref.n_returns < THRESHOLD.min_returns
    if stored.get("sigma_1s") is None and few:
        want["sigma_1s"] = None
        want.update({k: None for k in want if k.startswith("mom_z_")})
    if stored.get("cost_roundtrip") is None and (few or not ref.has_spread):
        want["cost_roundtrip"] = None
    return want


def compare(pid: int, t0: datetime, stored: dict[str, Any], ref: Reference) -> list[Mismatch]:
    """The stored features that differ from the recomputation; a feature the document lacks is not judged
    (another model may store another set), one it holds as null is."""
    want = expected_values(stored, ref)
    return [
        Mismatch(pid, t0, k, _num(stored[k]), v)
        for k, v in want.items()
        if k in stored and not close_enough(_num(stored[k]), v)
    ]


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


_SAMPLE = (
    "SELECT id, symbol, ts, features FROM predictions"
    " WHERE symbol = ANY(%(symbols)s) AND ts > %(start)s AND ts <= %(now)s ORDER BY random() LIMIT %(n)s"
)
_ORDER = (
    "SELECT count(*) FILTER (WHERE created_at < ts),"
    " count(*) FILTER (WHERE label_ts < ts + make_interval(secs => horizon_s)),"
    " count(*) FILTER (WHERE label_ts IS NOT NULL)"
    " FROM predictions WHERE symbol = ANY(%(symbols)s) AND ts > %(start)s AND ts <= %(now)s"
)
_STAMPS = (
    "SELECT count(*) FILTER (WHERE off_grid), count(*) FILTER (WHERE after_recv), count(*),"
    " min(label) FILTER (WHERE off_grid OR after_recv) FROM ("
    " SELECT source || '/' || symbol || '/' || metric || ' ts ' || ts || ' recv ' || recv_ts AS label,"
    "  mod(extract(epoch FROM ts)::numeric, period_s) <> 0 AND NOT (period_s = %(week)s"
    "   AND mod(extract(epoch FROM ts)::numeric - %(monday)s, period_s) = 0) AS off_grid,"
    "  ts > recv_ts + make_interval(secs => %(skew)s) AS after_recv"
    " FROM metrics WHERE period_s IS NOT NULL AND recv_ts > %(start)s AND recv_ts <= %(now)s) m"
)


def check(ctx: CheckContext) -> list[Measurement]:
    out = predictions_audit(ctx) + metric_stamps(ctx)
    if ctx.dataset is not None:
        out += audit_dataset(ctx.conn, ctx.dataset, ctx.settings.check_leak_sample)
    return out


def predictions_audit(ctx: CheckContext) -> list[Measurement]:
    w, s = ctx.window, ctx.settings
    params = {"symbols": ctx.binance_symbols, "start": w.start, "now": w.now, "n": s.check_leak_sample}
    sample = ctx.conn.execute(_SAMPLE, params).fetchall()
    mismatches: list[Mismatch] = []
    unverifiable = 0
    for pid, symbol, t0, features in sample:
        ref = reference(ctx.conn, symbol, collected_upbit_market(symbol, s.upbit_markets), t0)
        if ref.revised_inputs:
            unverifiable += 1
            continue
        mismatches += compare(pid, t0, features, ref)
    audited = len(sample) - unverifiable
    row = ctx.conn.execute(_ORDER, params).fetchone()
    early, label_early, settled = (int(v) for v in row) if row else (0, 0, 0)
    shown = "; ".join(str(m) for m in mismatches[:SHOW]) + (
        f"; +{len(mismatches) - SHOW} more" if len(mismatches) > SHOW else ""
    )
    return [
        at_least(
            "predictions audited",
            audited,
            1,
            "",
            f"of {len(sample)} sampled ({unverifiable} unverifiable: bars revised after t0)",
        ),
        equals("predictions feature_mismatches", len(mismatches), 0, "", shown or "every feature recomputed"),
        equals("predictions created_before_t0", early, 0, "", "created_at < ts"),
        equals(
            "predictions label_before_horizon", label_early, 0, "", f"label_ts < ts + H, of {settled} settled"
        ),
    ]


def metric_stamps(ctx: CheckContext) -> list[Measurement]:
    w, s = ctx.window, ctx.settings
    params = {
        "start": w.start,
        "now": w.now,
        "skew": s.check_max_clock_skew_s,
        "week": WEEK_S,
        "monday": MONDAY_OFFSET_S,
    }
    row = ctx.conn.execute(_STAMPS, params).fetchone()
    assert row is not None
    off_grid, after_recv, n, example = int(row[0]), int(row[1]), int(row[2]), row[3]
    detail = f"of {n} polled rows received in the window" + (f"; e.g. {example}" if example else "")
    return [
        equals("metrics stamps_off_grid", off_grid, 0, "", detail),
        equals("metrics stamps_after_recv", after_recv, 0, "", detail),
    ]


if __name__ == "__main__":
    sys.exit(main(NAME, check, with_dataset=True))
