"""What every page shares: the selection (symbol, window), UTC formatting, the empty-state and
database-error explanations, and time charts whose axis is UTC whatever the browser's time zone."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import altair as alt
import polars as pl
import streamlit as st

from cqt.dashboard.pool import SchemaMissing, Unavailable

START_BOT = "python -m cqt.bot --source sim --duration 120"
WINDOWS = {"15 min": 900, "1 h": 3_600, "6 h": 21_600, "24 h": 86_400, "7 days": 604_800}


@dataclass(frozen=True)
class Selection:
    """What the sidebar selected: a Binance symbol, its Upbit market and the window in seconds."""

    symbol: str
    upbit: str
    window_s: int
    window_label: str


def utc(ts: object) -> str:
    """`2024-05-01 12:00:05 UTC` for a datetime, an em dash for anything else (a null)."""
    if not isinstance(ts, datetime):
        return "—"
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(seconds: object) -> str:
    """A duration for people: `4.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`; an em dash for a null."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "—"
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s:.1f} s"
    if s < 3_600:
        return f"{sign}{int(s // 60)} min {int(s % 60)} s"
    if s < 86_400:
        return f"{sign}{int(s // 3_600)} h {int(s % 3_600 // 60)} min"
    return f"{sign}{int(s // 86_400)} d {int(s % 86_400 // 3_600)} h"


def num(value: object, digits: int = 2) -> str:
    """A number with thousands separators and `digits` decimals; an em dash for null or NaN."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:,.{digits}f}"
    return "—"


def sig(value: object, digits: int = 4) -> str:
    """A score to `digits` significant digits (tiny scores stay readable); an em dash for null or NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.{digits}g}"
    return "—"


def missing(what: str) -> None:
    """Explain that `what` is not in the database yet and how to get it there."""
    st.info(
        f"{what}\n\nStart the bot to fill the database: `{START_BOT}` runs it for two minutes against the "
        "local exchange simulator (drop `--source sim` for the live venues)."
    )


def first(frame: pl.DataFrame) -> dict[str, object] | None:
    """The first row of a query result as a dict, None when there is none."""
    return frame.row(0, named=True) if frame.height else None


def guarded(title: str, body: Callable[[Selection], None]) -> Callable[[Selection], None]:
    """Run a page body; a missing or unreachable database becomes an explanation, not a traceback."""

    def page(sel: Selection) -> None:
        st.title(title)
        try:
            body(sel)
        except Unavailable as exc:
            st.error(f"The database is unreachable: {exc}")
            st.info(
                "Start PostgreSQL or correct `DB_URL` (environment or `.env`); with `DB_URL` unset the "
                f"embedded server under `data/pg` is used, which `cqt db up` or the bot starts: `{START_BOT}`."
            )
        except SchemaMissing as exc:
            missing(f"The database has no cqt schema yet ({exc}). Create it with `cqt db up`.")

    return page


def time_chart(
    frame: pl.DataFrame, columns: list[str], title: str, y_title: str, *, fmt: str = ",.2f"
) -> alt.Chart:
    """Lines of `columns` over `ts`; the axis and the tooltips are in UTC."""
    long = (
        frame.select("ts", *columns)
        .unpivot(index="ts", variable_name="series", value_name="value")
        .with_columns(utc=pl.col("ts").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S UTC"))
    )
    chart: alt.Chart = (
        alt.Chart(long, title=title)
        .mark_line()
        .encode(
            x=alt.X(
                "ts:T", title="time (UTC)", scale=alt.Scale(type="utc"), axis=alt.Axis(format="%H:%M:%S")
            ),
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False), axis=alt.Axis(format=fmt)),
            color=alt.Color("series:N", legend=alt.Legend(orient="bottom") if len(columns) > 1 else None),
            tooltip=[
                alt.Tooltip("utc:N", title="time"),
                alt.Tooltip("series:N"),
                alt.Tooltip("value:Q", format=fmt),
            ],
        )
    )
    return chart


def footer() -> None:
    """The page's last element: when it was drawn (tests wait for it; people see the data's freshness)."""
    st.caption(f"Updated {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC · all times are UTC")
