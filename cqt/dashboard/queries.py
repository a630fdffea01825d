"""Every SQL statement of the dashboard, one function per question a page asks.

Windows are anchored at the database's ``now()`` (UTC sessions, docs/design.md §2) and given in seconds; long
windows are thinned to buckets of ``bucket_s`` seconds, keeping the last row of each bucket, so a chart
never receives more than a few hundred points per series.
"""

from __future__ import annotations

import polars as pl

from cqt.dashboard.pool import fetch

MAX_POINTS = 600


def bucket_s(window_s: int) -> int:
    """Bucket length that keeps a window's 1 s series at or under MAX_POINTS points."""
    return max(1, -(-window_s // MAX_POINTS))


# --- market -------------------------------------------------------------------------------------------


def binance_symbols() -> list[str]:
    """Binance symbols with bars (a loose index scan over the primary key, cheap on any table size)."""
    rows = fetch(
        "WITH RECURSIVE s AS ("
        " (SELECT symbol FROM market_1s WHERE exchange = 'binance' ORDER BY symbol LIMIT 1)"
        " UNION ALL SELECT (SELECT m.symbol FROM market_1s m WHERE m.exchange = 'binance'"
        " AND m.symbol > s.symbol ORDER BY m.symbol LIMIT 1) FROM s WHERE s.symbol IS NOT NULL)"
        " SELECT symbol FROM s WHERE symbol IS NOT NULL"
    )
    return [str(s) for s in rows["symbol"]] if rows.height else []


def latest_bar(exchange: str, symbol: str) -> pl.DataFrame:
    """The newest bar of a series with its age in seconds."""
    return fetch(
        "SELECT ts, close, spread_bps, mid_close, n_trades, stale, gap,"
        " extract(epoch FROM now() - ts)::float8 AS age_s"
        " FROM market_1s WHERE exchange = %(exchange)s AND symbol = %(symbol)s ORDER BY ts DESC LIMIT 1",
        {"exchange": exchange, "symbol": symbol},
    )


def bars(exchange: str, symbol: str, window_s: int) -> pl.DataFrame:
    """Close and spread at the end of each bucket of the window (gap bars left out)."""
    return fetch(
        "SELECT DISTINCT ON (b) b AS ts, close, spread_bps FROM ("
        " SELECT to_timestamp(ceil(extract(epoch FROM ts) / %(b)s) * %(b)s) AS b, ts, close, spread_bps"
        " FROM market_1s WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND NOT gap"
        " AND ts > now() - make_interval(secs => %(w)s)) x ORDER BY b, ts DESC",
        {"exchange": exchange, "symbol": symbol, "w": window_s, "b": bucket_s(window_s)},
    )


def upbit_premium(symbol: str, upbit: str, window_s: int) -> pl.DataFrame:
    """ln(Upbit KRW close / Binance USDT close) on the seconds both venues have a non-gap bar."""
    return fetch(
        "SELECT DISTINCT ON (b) b AS ts, premium FROM ("
        " SELECT to_timestamp(ceil(extract(epoch FROM u.ts) / %(b)s) * %(b)s) AS b, u.ts,"
        " ln(u.close / n.close) AS premium"
        " FROM market_1s u JOIN market_1s n ON n.exchange = 'binance' AND n.symbol = %(symbol)s"
        " AND n.ts = u.ts AND NOT n.gap AND n.close > 0"
        " WHERE u.exchange = 'upbit' AND u.symbol = %(upbit)s AND NOT u.gap AND u.close > 0"
        " AND u.ts > now() - make_interval(secs => %(w)s)) x ORDER BY b, ts DESC",
        {"symbol": symbol, "upbit": upbit, "w": window_s, "b": bucket_s(window_s)},
    )


def funding(symbol: str, window_s: int) -> pl.DataFrame:
    """Mark price, index price and the current funding estimate (markPrice@1s) per bucket."""
    return fetch(
        "SELECT DISTINCT ON (b) b AS ts, mark_price, index_price, funding_rate, next_funding_ts FROM ("
        " SELECT to_timestamp(ceil(extract(epoch FROM ts) / %(b)s) * %(b)s) AS b, *"
        " FROM mark_price WHERE symbol = %(symbol)s AND ts > now() - make_interval(secs => %(w)s)) x"
        " ORDER BY b, ts DESC",
        {"symbol": symbol, "w": window_s, "b": bucket_s(window_s)},
    )


def open_interest(symbol: str, window_s: int) -> pl.DataFrame:
    """Binance open interest (contracts) over the window."""
    return fetch(
        "SELECT ts, value AS open_interest FROM metrics WHERE source = 'binance' AND symbol = %(symbol)s"
        " AND metric = 'open_interest' AND ts > now() - make_interval(secs => %(w)s) ORDER BY ts",
        {"symbol": symbol, "w": window_s},
    )


def liquidation_totals(symbol: str, window_s: int) -> pl.DataFrame:
    """Per side: count and USD notional of liquidations in the window (SELL closes a long)."""
    return fetch(
        "SELECT side, count(*) AS orders, sum(avg_price * qty) AS notional_usd FROM liquidations"
        " WHERE symbol = %(symbol)s AND ts > now() - make_interval(secs => %(w)s) GROUP BY side ORDER BY side",
        {"symbol": symbol, "w": window_s},
    )


def latest_liquidations(symbol: str, limit: int = 20) -> pl.DataFrame:
    return fetch(
        "SELECT ts, side, price, avg_price, qty, avg_price * qty AS notional_usd, status FROM liquidations"
        " WHERE symbol = %(symbol)s ORDER BY ts DESC LIMIT %(limit)s",
        {"symbol": symbol, "limit": limit},
    )


def coinglass_latest_values() -> pl.DataFrame:
    """The newest value of every Coinglass series (ts = period end)."""
    return fetch(
        "SELECT DISTINCT ON (symbol, metric) symbol, metric, ts, recv_ts, period_s, value"
        " FROM metrics WHERE source = 'coinglass' ORDER BY symbol, metric, ts DESC"
    )


# --- collection health --------------------------------------------------------------------------------


def latest_run() -> pl.DataFrame:
    """The newest bot run, with the heartbeat's age."""
    return fetch(
        "SELECT run_id, source, symbols::text AS symbols, host, pid, version, started_at, heartbeat_at,"
        " stopped_at, stop_cause, stop_detail, extract(epoch FROM now() - heartbeat_at)::float8 AS beat_age_s"
        " FROM bot_runs ORDER BY run_id DESC LIMIT 1"
    )


def streams(run_id: int) -> pl.DataFrame:
    """Each stream's newest snapshot in the run, its lag on both clocks, and its message rate over the
    last minute (or since the run's first snapshot)."""
    return fetch(
        "SELECT s.exchange, s.stream, s.connection, s.messages,"
        " ((s.messages - p.messages) / nullif(extract(epoch FROM s.ts - p.ts), 0))::float8 AS msg_per_s,"
        " s.malformed, s.reconnects, s.stalls,"
        " extract(epoch FROM s.ts - s.last_event_ts)::float8 AS lag_event_s,"
        " extract(epoch FROM s.ts - s.last_recv_ts)::float8 AS lag_recv_s,"
        " s.ts AS snapshot_ts, extract(epoch FROM now() - s.ts)::float8 AS snapshot_age_s"
        " FROM (SELECT DISTINCT ON (exchange, stream) * FROM stream_status WHERE run_id = %(run)s"
        "       ORDER BY exchange, stream, ts DESC) s"
        " CROSS JOIN LATERAL (SELECT q.messages, q.ts FROM stream_status q WHERE q.run_id = s.run_id"
        "       AND q.exchange = s.exchange AND q.stream = s.stream"
        "       AND q.ts >= s.ts - interval '60 seconds' ORDER BY q.ts LIMIT 1) p"
        " ORDER BY s.exchange, s.stream",
        {"run": run_id},
    )


def writer(run_id: int) -> pl.DataFrame:
    """The storage writer's newest snapshot in the run."""
    return fetch(
        "SELECT ts, rows_inserted, spool_depth, db_up, last_batch_ms, max_batch_ms,"
        " extract(epoch FROM now() - ts)::float8 AS age_s"
        " FROM writer_status WHERE run_id = %(run)s ORDER BY ts DESC LIMIT 1",
        {"run": run_id},
    )


def bar_fill(window_s: int) -> pl.DataFrame:
    """Per bar series in the window: bars, seconds with trades, stale and gap bars, newest bar's age."""
    return fetch(
        "SELECT exchange, symbol, count(*) AS bars, count(*) FILTER (WHERE n_trades > 0) AS traded,"
        " count(*) FILTER (WHERE stale) AS stale, count(*) FILTER (WHERE gap) AS gap,"
        " extract(epoch FROM max(ts) - min(ts))::bigint + 1 AS span_s,"
        " extract(epoch FROM now() - max(ts))::float8 AS last_age_s"
        " FROM market_1s WHERE ts > now() - make_interval(secs => %(w)s)"
        " GROUP BY exchange, symbol ORDER BY exchange, symbol",
        {"w": window_s},
    )


def gap_counts(window_s: int) -> pl.DataFrame:
    """Gaps opened in the window per stream and what became of them, plus those open now."""
    return fetch(
        "SELECT exchange, symbol, stream, count(*) AS opened,"
        " count(*) FILTER (WHERE status = 'filled') AS filled,"
        " count(*) FILTER (WHERE status = 'unfillable') AS unfillable,"
        " count(*) FILTER (WHERE status = 'open') AS still_open, sum(filled_count)::bigint AS rows_filled"
        " FROM gaps WHERE opened_at > now() - make_interval(secs => %(w)s)"
        " GROUP BY exchange, symbol, stream ORDER BY exchange, symbol, stream",
        {"w": window_s},
    )


def open_gaps() -> pl.DataFrame:
    return fetch(
        "SELECT exchange, symbol, stream, start_ts, end_ts, from_id, to_id, reason, opened_at"
        " FROM gaps WHERE status = 'open' ORDER BY opened_at DESC LIMIT 50"
    )


def coinglass_calls(window_s: int) -> pl.DataFrame:
    """Per endpoint: the newest call (ok, HTTP status, body code, error) and the counts in the window."""
    return fetch(
        "SELECT DISTINCT ON (endpoint) endpoint, symbol, ts AS last_call, ok, http_status, body_code,"
        " left(error, 200) AS error, latency_ms,"
        " count(*) FILTER (WHERE ts > now() - make_interval(secs => %(w)s)) OVER w AS calls,"
        " count(*) FILTER (WHERE ok AND ts > now() - make_interval(secs => %(w)s)) OVER w AS ok_calls"
        " FROM coinglass_call_status WINDOW w AS (PARTITION BY endpoint)"
        " ORDER BY endpoint, ts DESC",
        {"w": window_s},
    )


def run_events(run_id: int) -> pl.DataFrame:
    return fetch(
        "SELECT ts, component, kind, left(detail, 300) AS detail FROM bot_events"
        " WHERE run_id = %(run)s ORDER BY ts DESC LIMIT 50",
        {"run": run_id},
    )


# --- predictions --------------------------------------------------------------------------------------


def prediction_summary(symbol: str, window_s: int) -> pl.DataFrame:
    """Made, settled, mean Brier score and mean log loss of the predictions in the window."""
    return fetch(
        "SELECT count(*) AS made, count(*) FILTER (WHERE settled_at IS NOT NULL) AS settled,"
        " count(y) AS labelled, avg(brier) AS brier, avg(log_loss) AS log_loss, max(ts) AS newest"
        " FROM predictions WHERE symbol = %(symbol)s AND ts > now() - make_interval(secs => %(w)s)",
        {"symbol": symbol, "w": window_s},
    )


def latest_predictions(symbol: str, limit: int = 50) -> pl.DataFrame:
    return fetch(
        "SELECT ts, model, horizon_s, r_t, p_up, p_down, p_none, expected_value, action,"
        " y, fwd_return, brier, log_loss, settled_at FROM predictions WHERE symbol = %(symbol)s"
        " ORDER BY ts DESC LIMIT %(limit)s",
        {"symbol": symbol, "limit": limit},
    )


def settled(symbol: str, window_s: int) -> pl.DataFrame:
    """Labelled predictions in the window: the probabilities, the outcome and its scores."""
    return fetch(
        "SELECT ts, p_up, p_down, p_none, y, brier, log_loss FROM predictions"
        " WHERE symbol = %(symbol)s AND y IS NOT NULL AND ts > now() - make_interval(secs => %(w)s)"
        " ORDER BY ts",
        {"symbol": symbol, "w": window_s},
    )


# --- labels -------------------------------------------------------------------------------------------


def label_bars(symbol: str, span_s: int) -> pl.DataFrame:
    """The Binance bars of the last ``span_s`` seconds of data (ending at the newest bar, not at now)."""
    return fetch(
        "SELECT ts, close, high, low, gap, spread_bps FROM market_1s"
        " WHERE exchange = 'binance' AND symbol = %(symbol)s AND ts > ("
        "  SELECT max(ts) FROM market_1s WHERE exchange = 'binance' AND symbol = %(symbol)s"
        " ) - make_interval(secs => %(span)s) ORDER BY ts",
        {"symbol": symbol, "span": span_s},
    )


def latest_horizon(symbol: str) -> pl.DataFrame:
    """Horizon of the newest prediction and the source of the newest run (sim runs use a shorter H)."""
    return fetch(
        "SELECT (SELECT horizon_s FROM predictions WHERE symbol = %(symbol)s ORDER BY ts DESC LIMIT 1)"
        " AS horizon_s, (SELECT source FROM bot_runs ORDER BY run_id DESC LIMIT 1) AS source",
        {"symbol": symbol},
    )
