"""coinglass: the collector is enabled, has a usable key, gets ``ok`` answers and stores series rows.

Measurements:

* ``enabled``: ``COINGLASS_ENABLED`` must be true (disabled is FAIL: the series are part of the pipeline).
* ``key``: judged on the evidence of who made the calls. The bot runs that overlap the window are read
  from ``bot_runs``: if there are some and every one is ``source = 'sim'``, the calls were made with the
  simulator's key (``--source sim`` overrides ``COINGLASS_API_KEY``), so the key passes and says which
  run used it. Otherwise (a live run, or no run at all) ``COINGLASS_API_KEY`` must be present and not a
  placeholder. Only its length is ever printed.
* Per endpoint of the configured target: ``ok_calls`` (HTTP 200 and body code "0") in the window >= 1,
  and ``series_rows``: rows of the endpoint's series whose period ended after ``window start - interval -
  poll interval`` (the newest complete period must be there; re-polled periods are not re-inserted, so
  counting rows *received* in a short window would miss a healthy hourly series) >= 1.
* ``fail_share``: calls in the window that are not ok, <= ``CHECK_MAX_COINGLASS_FAIL_SHARE``, with their
  body codes / HTTP statuses in the detail (a bad key is HTTP 200 with a non-"0" code).
"""

from __future__ import annotations

import sys
from datetime import timedelta

from cqt.checks.context import CheckContext
from cqt.checks.result import Measurement, at_least, at_most, equals
from cqt.checks.run import main
from cqt.checks.streams import coinglass_target
from cqt.collect import coinglass_parse as cp

NAME = "coinglass"

_RUNS = (
    "SELECT run_id, source FROM bot_runs WHERE started_at <= %(now)s"
    " AND coalesce(stopped_at, heartbeat_at) >= %(start)s ORDER BY run_id"
)
_CALLS = (
    "SELECT endpoint, count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok),"
    " string_agg(DISTINCT coalesce('code ' || body_code, 'HTTP ' || http_status, 'no response'), ', ')"
    "   FILTER (WHERE NOT ok)"
    " FROM coinglass_call_status WHERE ts > %(start)s AND ts <= %(now)s GROUP BY endpoint"
)
_ROWS = (
    "SELECT count(*), max(ts) FROM metrics WHERE source = 'coinglass' AND symbol = %(symbol)s"
    " AND metric = ANY(%(metrics)s) AND ts > %(since)s AND ts <= %(now)s AND recv_ts <= %(now)s"
)


def check(ctx: CheckContext) -> list[Measurement]:
    s, w = ctx.settings, ctx.window
    params = {"start": w.start, "now": w.now}
    out = [
        equals(
            "coinglass enabled", int(s.coinglass_enabled), 1, "", f"COINGLASS_ENABLED={s.coinglass_enabled}"
        )
    ]
    runs = ctx.conn.execute(_RUNS, params).fetchall()
    out.append(key_measurement(ctx, runs))
    calls = {r[0]: (int(r[1]), int(r[2]), r[3]) for r in ctx.conn.execute(_CALLS, params).fetchall()}
    interval_s = cp.INTERVAL_S[s.coinglass_interval]
    since = w.start - timedelta(seconds=interval_s + s.coinglass_poll_s)
    for endpoint, symbol, _ in coinglass_target(s).calls():
        ok, bad, codes = calls.get(endpoint, (0, 0, None))
        out.append(
            at_least(
                f"coinglass {endpoint} ok_calls",
                ok,
                1,
                "",
                f"{bad} failed" + (f" ({codes})" if codes else ""),
            )
        )
        metrics = [m for _, m in cp.SERIES[endpoint]]
        row = ctx.conn.execute(
            _ROWS, {**params, "symbol": symbol, "metrics": metrics, "since": since}
        ).fetchone()
        n, newest = (int(row[0]), row[1]) if row else (0, None)
        detail = f"{symbol}, periods ending after {since.isoformat()}" + (
            f"; newest {newest.isoformat()}" if newest else ""
        )
        out.append(at_least(f"coinglass {endpoint} series_rows", n, 1, "", detail))
    ok_all = sum(v[0] for v in calls.values())
    bad_all = sum(v[1] for v in calls.values())
    codes_all = sorted({c for v in calls.values() if v[2] for c in v[2].split(", ")})
    share = bad_all / (ok_all + bad_all) if ok_all + bad_all else None
    detail = f"{bad_all} of {ok_all + bad_all} calls" + (f"; {', '.join(codes_all)}" if codes_all else "")
    out.append(at_most("coinglass fail_share", share, s.check_max_coinglass_fail_share, "", detail))
    return out


def key_measurement(ctx: CheckContext, runs: list[tuple[int, str]]) -> Measurement:
    """The key rule of the module docstring: simulator runs prove their own key, else the configured one."""
    s = ctx.settings
    if runs and all(source == "sim" for _, source in runs):
        ids = ", ".join(str(r) for r, _ in runs)
        return equals("coinglass key", 1, 1, "", f"simulator key used by run {ids} (source sim)")
    length = len(s.coinglass_api_key.get_secret_value().strip())
    usable = s.coinglass_key_usable
    state = "usable" if usable else ("missing" if length == 0 else "a placeholder")
    who = (
        "live run " + ", ".join(str(r) for r, src in runs if src != "sim")
        if runs
        else "no bot run in the window"
    )
    return equals("coinglass key", int(usable), 1, "", f"COINGLASS_API_KEY {state} (length {length}); {who}")


if __name__ == "__main__":
    sys.exit(main(NAME, check))
