"""The Streamlit script `cqt dashboard` runs: the password gate, sidebar selection, page navigation and
auto-refresh.

Started by `streamlit run` (see cqt/cli/dashboard.py for the server flags); every rerun loads the
settings again, so `.env` edits apply on the next refresh (a changed DASHBOARD_PASSWORD asks again).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from functools import partial

import streamlit as st

from cqt.config import ConfigError, Settings, load_settings
from cqt.dashboard import queries as q
from cqt.dashboard.pool import SchemaMissing, Unavailable, target_display
from cqt.dashboard.ui import WINDOWS, Selection, footer
from cqt.dashboard.views import gates, health, labels, market, predictions
from cqt.predict.features import upbit_market_for

PAGES = (
    (market.page, "Market", "market", ":material/candlestick_chart:"),
    (health.page, "Collection health", "health", ":material/monitor_heart:"),
    (predictions.page, "Predictions", "predictions", ":material/query_stats:"),
    (labels.page, "Labels", "labels", ":material/label:"),
    (gates.page, "Gates", "gates", ":material/checklist:"),
)
_FULL_RUN = "_cqt_full_run"
_UNLOCKED = "_cqt_unlocked"  # digest of the password this browser session gave


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def unlocked(password: str) -> bool:
    """Whether this session may see the pages: no password is set, or the session gave it. Otherwise
    draw the password form (nothing else of the app is drawn before it is given)."""
    if not password:
        return True
    expected = _digest(password)
    if hmac.compare_digest(str(st.session_state.get(_UNLOCKED, "")), expected):
        return True
    st.title("cqt dashboard")
    with st.form("password"):
        given = st.text_input("Password (DASHBOARD_PASSWORD)", type="password")
        if st.form_submit_button("Open"):
            if hmac.compare_digest(given.encode(), password.encode()):
                st.session_state[_UNLOCKED] = expected
                st.rerun()
            st.error("Wrong password.")
    return False


def _sidebar(settings: Settings) -> Selection:
    try:
        stored = q.binance_symbols()
        where = target_display()
    except (Unavailable, SchemaMissing) as exc:
        stored, where = [], f"unavailable ({type(exc).__name__})"
    symbols = sorted(set(stored) | set(settings.binance_symbols))
    with st.sidebar:
        symbol = st.selectbox("Symbol (Binance)", symbols, key="symbol") or symbols[0]
        window = st.selectbox("Window", list(WINDOWS), index=1, key="window") or "1 h"
        st.markdown(f"**All times are UTC.** Now: `{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC`")
        refresh = settings.dashboard_refresh_s
        st.caption(f"Refresh every {refresh} s (DASHBOARD_REFRESH_S)." if refresh else "Auto-refresh off.")
        st.caption(f"Database: `{where}`")
    return Selection(symbol, upbit_market_for(symbol), WINDOWS[window], window)


def _auto_refresh(every_s: int) -> None:
    # A fragment with run_every reruns on its own timer; on such a timer run (no full run has set the
    # marker since) it reruns the whole app, so the sidebar clock and the page refresh together.
    @st.fragment(run_every=every_s)
    def tick() -> None:
        if not st.session_state.pop(_FULL_RUN, False):
            st.rerun(scope="app")

    st.session_state[_FULL_RUN] = True
    tick()


def main() -> None:
    st.set_page_config(page_title="cqt dashboard", page_icon=":material/monitoring:", layout="wide")
    try:
        settings = load_settings()
    except ConfigError as exc:
        st.error(f"Configuration error: {exc}")
        st.stop()
    password = settings.dashboard_password.get_secret_value() if settings.dashboard_password_set else ""
    if not unlocked(password):
        st.stop()
    selection = _sidebar(settings)
    nav = st.navigation(
        [
            st.Page(partial(view, selection), title=title, url_path=path, icon=icon, default=path == "market")
            for view, title, path, icon in PAGES
        ]
    )
    nav.run()
    footer()
    if settings.dashboard_refresh_s:
        _auto_refresh(settings.dashboard_refresh_s)


main()
