"""Gates: the latest PASS / FAIL / PENDING matrix written by `cqt gate` to reports/gate.json."""

from __future__ import annotations

import polars as pl
import streamlit as st

from cqt.dashboard.gate_report import REPORT_PATH, RESULTS, load
from cqt.dashboard.ui import Selection, guarded

MARK = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "PENDING": "⏳ PENDING", "UNKNOWN": "? UNKNOWN"}


def _body(_: Selection) -> None:
    report = load(REPORT_PATH)
    if report is None:
        st.info(
            f"No gate matrix yet: `{REPORT_PATH}` does not exist (relative to where the dashboard runs). "
            "Run `cqt gate` to check the ALT-5 / ALT-6 gates and write it."
        )
        return
    if report.problem:
        st.warning(f"{report.problem}. Run `cqt gate` again to rewrite it.")
        return
    cols = st.columns(len(RESULTS) + 1)
    cols[0].metric("Gates", len(report.items))
    for col, result in zip(cols[1:], RESULTS, strict=True):
        col.metric(result, report.count(result))
    if report.generated:
        st.caption(f"written {report.generated} by `cqt gate`")
    st.table(
        pl.DataFrame(
            {
                "id": [i.id for i in report.items],
                "title": [i.title for i in report.items],
                "result": [MARK[i.result] for i in report.items],
                "evidence": [i.evidence for i in report.items],
            }
        )
    )


page = guarded("Gates", _body)
