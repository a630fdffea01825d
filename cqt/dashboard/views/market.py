"""Market: Binance and Upbit prices and spreads, the Upbit premium, funding, open interest, liquidations."""

from __future__ import annotations

import polars as pl
import streamlit as st

from cqt.dashboard import queries as q
from cqt.dashboard.ui import Selection, ago, first, guarded, missing, num, time_chart, utc

PREMIUM_NOTE = (
    "Upbit premium here is ln(Upbit KRW close / Binance USDT close) on the seconds both venues traded. "
    "No KRW/USD rate is collected, so the level includes the exchange rate (about ln 1,350 ≈ 7.2); "
    "read its moves, not its level. The predictor's `upbit_premium_dev` uses the same series minus its "
    "10-minute mean."
)


def _body(sel: Selection) -> None:
    binance, upbit = first(q.latest_bar("binance", sel.symbol)), first(q.latest_bar("upbit", sel.upbit))
    if binance is None and upbit is None:
        missing(f"No 1-second bars for {sel.symbol} (Binance) or {sel.upbit} (Upbit) yet.")
        return
    premium = q.upbit_premium(sel.symbol, sel.upbit, sel.window_s)
    fund = q.funding(sel.symbol, sel.window_s)
    oi = q.open_interest(sel.symbol, sel.window_s)
    liq = q.liquidation_totals(sel.symbol, sel.window_s)

    top = st.columns(4)
    for col, label, bar, digits in (
        (top[0], f"Binance {sel.symbol} close (USDT)", binance, 2),
        (top[1], f"Upbit {sel.upbit} close (KRW)", upbit, 0),
    ):
        col.metric(label, num(bar["close"], digits) if bar else "—")
        col.caption(f"bar {utc(bar['ts'])}, {ago(bar['age_s'])} ago" if bar else "no bar yet")
    top[2].metric("Binance spread (bps)", num(binance["spread_bps"], 2) if binance else "—")
    top[3].metric(
        "Upbit premium ln(KRW/USDT)",
        num(premium["premium"][-1], 4) if premium.height else "—",
        help=PREMIUM_NOTE,
    )

    low = st.columns(4)
    last_fund = first(fund.tail(1))
    low[0].metric(
        "Funding rate (current estimate)",
        f"{num(_pct(last_fund['funding_rate']), 4)} %" if last_fund else "—",
    )
    low[1].metric("Mark price", num(last_fund["mark_price"], 2) if last_fund else "—")
    low[2].metric("Open interest (contracts)", num(oi["open_interest"][-1], 1) if oi.height else "—")
    orders = int(liq["orders"].sum()) if liq.height else 0
    low[3].metric(f"Liquidations ({sel.window_label})", f"{orders:,}")

    bars_b = q.bars("binance", sel.symbol, sel.window_s)
    bars_u = q.bars("upbit", sel.upbit, sel.window_s)
    if bars_b.height == 0 and bars_u.height == 0:
        st.info(f"No bars in the last {sel.window_label}; choose a longer window in the sidebar.")
    else:
        left, right = st.columns(2)
        if bars_b.height:
            left.altair_chart(time_chart(bars_b, ["close"], f"Binance {sel.symbol} close", "USDT"))
            left.altair_chart(time_chart(bars_b, ["spread_bps"], "Binance spread", "bps", fmt=".3f"))
        if bars_u.height:
            right.altair_chart(time_chart(bars_u, ["close"], f"Upbit {sel.upbit} close", "KRW", fmt=",.0f"))
            right.altair_chart(time_chart(bars_u, ["spread_bps"], "Upbit spread", "bps", fmt=".3f"))

    st.subheader("Upbit premium over Binance")
    st.caption(PREMIUM_NOTE)
    if premium.height:
        st.altair_chart(
            time_chart(premium, ["premium"], "ln(Upbit KRW / Binance USDT)", "ln ratio", fmt=".4f")
        )
    else:
        st.info("No second in the window has a bar on both venues.")

    st.subheader("Funding and open interest")
    left, right = st.columns(2)
    if fund.height:
        pct = fund.with_columns(funding_pct=pl.col("funding_rate") * 100)
        left.altair_chart(
            time_chart(pct, ["funding_pct"], "Funding rate estimate (markPrice@1s)", "%", fmt=".4f")
        )
        left.caption(f"next funding {utc(last_fund['next_funding_ts'] if last_fund else None)}")
    else:
        left.info("No markPrice@1s updates in the window.")
    if oi.height:
        right.altair_chart(
            time_chart(oi, ["open_interest"], "Open interest (Binance REST)", "contracts", fmt=",.0f")
        )
    else:
        right.info("No open-interest polls in the window.")

    st.subheader("Liquidations")
    if liq.height:
        st.table(
            liq.select(
                pl.col("side").replace({"SELL": "SELL (long liquidated)", "BUY": "BUY (short liquidated)"}),
                pl.col("orders"),
                pl.col("notional_usd").map_elements(num, return_dtype=pl.String).alias("notional (USD)"),
            )
        )
    else:
        st.info(f"No liquidation in the last {sel.window_label} (forceOrder pushes only when one happens).")
    recent = q.latest_liquidations(sel.symbol)
    if recent.height:
        st.dataframe(
            recent.with_columns(ts=pl.col("ts").map_elements(utc, return_dtype=pl.String)), hide_index=True
        )

    series = q.coinglass_latest_values()
    if series.height:
        st.subheader("Coinglass series (newest value; ts = period end)")
        st.dataframe(
            series.with_columns(
                pl.col("ts", "recv_ts").map_elements(utc, return_dtype=pl.String),
            ),
            hide_index=True,
        )


def _pct(value: object) -> float | None:
    return value * 100 if isinstance(value, float) else None


page = guarded("Market", _body)
