"""Collection health: the bot run, every stream's lag on both clocks, bar fill, gaps, the writer's spool,
Coinglass call status with body codes, task events, and the configuration (secrets only as status)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from cqt.config import ConfigError, Settings, load_settings, secret_names
from cqt.dashboard import queries as q
from cqt.dashboard.pool import SchemaMissing, target_display
from cqt.dashboard.ui import Selection, ago, first, guarded, missing, num, utc
from cqt.envfile import SecretStatus

# Three missed 5 s heartbeats: the bot is gone even if it never wrote a stop.
HEARTBEAT_STALE_S = 15.0


def _body(sel: Selection) -> None:
    run = first(q.latest_run())
    if run is None:
        missing("No bot run is recorded in this database yet.")
    else:
        _run(run)
        _streams(int(str(run["run_id"])))
    _bars(sel)
    _gaps(sel)
    _coinglass(sel)
    if run is not None:
        events = q.run_events(int(str(run["run_id"])))
        st.subheader("Task events of the run")
        if events.height:
            st.dataframe(
                events.with_columns(ts=pl.col("ts").map_elements(utc, return_dtype=pl.String)),
                hide_index=True,
            )
        else:
            st.caption("No crash or restart in this run.")
    _configuration()


def _state(run: dict[str, object]) -> str:
    if run["stopped_at"] is not None:
        return f"stopped ({run['stop_cause']})"
    beat = run["beat_age_s"]
    if isinstance(beat, float) and beat > HEARTBEAT_STALE_S:
        return "heartbeat lost"
    return "running"


def _run(run: dict[str, object]) -> None:
    st.subheader(f"Bot run {run['run_id']} ({run['source']})")
    cols = st.columns(4)
    cols[0].metric("State", _state(run))
    cols[1].metric("Started", utc(run["started_at"]))
    cols[2].metric("Last heartbeat", f"{ago(run['beat_age_s'])} ago")
    cols[3].metric("Symbols", str(run["symbols"]).strip("{}"))
    if run["stop_detail"]:
        st.caption(f"stop detail: {run['stop_detail']}")


def _streams(run_id: int) -> None:
    st.subheader("Streams (newest heartbeat snapshot)")
    try:
        streams, writer = q.streams(run_id), first(q.writer(run_id))
    except SchemaMissing:
        st.info(
            "Per-stream status needs the `stream_status` table: run `cqt db migrate`, then restart the bot."
        )
        return
    if streams.height == 0:
        st.info("This run has written no stream snapshot yet (one every 5 s once the collectors run).")
    else:
        st.table(
            streams.select(
                "exchange",
                "stream",
                "connection",
                _fmt("messages", 0),
                _fmt("msg_per_s", 1).alias("msg/s (1 min)"),
                "malformed",
                "reconnects",
                "stalls",
                _age("lag_event_s").alias("lag, event clock"),
                _age("lag_recv_s").alias("lag, receive clock"),
                _age("snapshot_age_s").alias("snapshot age"),
            )
        )
        st.caption(
            "Lag, event clock: snapshot time minus the newest event time the venue stamped (latency plus "
            "clock offset). Lag, receive clock: snapshot time minus the newest frame on the connection."
        )
    st.subheader("Storage writer")
    if writer is None:
        st.info("No writer snapshot in this run yet.")
        return
    cols = st.columns(5)
    cols[0].metric("Rows inserted", num(writer["rows_inserted"], 0))
    cols[1].metric("Spool depth (batches)", num(writer["spool_depth"], 0))
    cols[2].metric("PostgreSQL", "up" if writer["db_up"] else "DOWN (spooling)")
    cols[3].metric("Last batch (ms)", num(writer["last_batch_ms"], 1))
    cols[4].metric("Slowest batch (ms)", num(writer["max_batch_ms"], 1))


def _bars(sel: Selection) -> None:
    st.subheader(f"Bar fill (last {sel.window_label})")
    fill = q.bar_fill(sel.window_s)
    if fill.height == 0:
        st.info(f"No 1-second bars in the last {sel.window_label}.")
        return
    st.table(
        fill.select(
            "exchange",
            "symbol",
            "bars",
            _share("traded", "bars").alias("seconds with trades"),
            _share("stale", "bars").alias("stale"),
            _share("gap", "bars").alias("gap"),
            _share("bars", "span_s").alias("rows per second of span"),
            _age("last_age_s").alias("newest bar age"),
        )
    )


def _gaps(sel: Selection) -> None:
    st.subheader(f"Gaps opened in the last {sel.window_label}")
    counts = q.gap_counts(sel.window_s)
    if counts.height:
        st.table(counts)
    else:
        st.caption("No gap opened in the window.")
    still_open = q.open_gaps()
    if still_open.height:
        st.warning(f"{still_open.height} gap(s) open now")
        st.dataframe(
            still_open.with_columns(
                pl.col("start_ts", "end_ts", "opened_at").map_elements(utc, return_dtype=pl.String)
            ),
            hide_index=True,
        )


def _coinglass(sel: Selection) -> None:
    st.subheader("Coinglass calls")
    calls = q.coinglass_calls(sel.window_s)
    if calls.height == 0:
        st.info(
            "No Coinglass call recorded. The bot polls Coinglass when COINGLASS_ENABLED is true and "
            "COINGLASS_API_KEY is a real key (the simulator has its own)."
        )
        return
    st.table(
        calls.select(
            "endpoint",
            "symbol",
            pl.col("last_call").map_elements(utc, return_dtype=pl.String),
            pl.when(pl.col("ok")).then(pl.lit("ok")).otherwise(pl.lit("FAILED")).alias("result"),
            "http_status",
            "body_code",
            pl.col("error").fill_null(""),
            _fmt("latency_ms", 0).alias("latency ms"),
            (pl.col("ok_calls").cast(pl.String) + " / " + pl.col("calls").cast(pl.String)).alias(
                f"ok / calls ({sel.window_label})"
            ),
        )
    )
    st.caption('A call is ok only with HTTP 200 and body code "0": Coinglass answers errors with HTTP 200.')


def _configuration() -> None:
    with st.expander("Configuration (secrets shown only as presence, length and placeholder status)"):
        st.write(f"Database: `{target_display()}`")
        try:
            settings = load_settings()
        except ConfigError as exc:
            st.error(str(exc))
            return
        for line in _secret_lines(settings):
            st.write(line)


def _secret_lines(settings: Settings) -> list[str]:
    lines = []
    for name in secret_names():
        secret = getattr(settings, name.lower())
        value = "" if secret is None else str(secret.get_secret_value())
        lines.append(SecretStatus.of(name, value, "settings").line())
    return lines


def _fmt(column: str, digits: int) -> pl.Expr:
    return pl.col(column).map_elements(lambda v: num(v, digits), return_dtype=pl.String).fill_null("—")


def _age(column: str) -> pl.Expr:
    return pl.col(column).map_elements(ago, return_dtype=pl.String).fill_null("—")


def _share(part: str, whole: str) -> pl.Expr:
    return (pl.col(part) / pl.col(whole) * 100).round(1).cast(pl.String) + " %"


page = guarded("Collection health", _body)
