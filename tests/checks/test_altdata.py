"""altdata: healthy evidence passes with its measured values; a stale stream, a low fill, an open gap,
reconnects and a missing series each FAIL on the measurement that names them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cqt.store.spool import Spool
from cqt.store.writer import Writer
from tests.checks.conftest import Evidence, failed, measurement, run_check


def test_healthy_streams_pass_with_measured_values(healthy: Evidence) -> None:
    result = run_check(healthy.db, "altdata")
    assert result.status == "PASS", result.text()
    assert result.exit_code == 0
    agg = measurement(result, "binance/BTCUSDT/aggTrade lag_event_s")
    assert agg.value is not None and 0 < agg.value < 2 and agg.threshold == 30
    assert measurement(result, "binance/BTCUSDT/markPrice@1s fill").value == 1.0
    assert measurement(result, "upbit/KRW-BTC/orderbook reconnects").value == 0
    assert measurement(result, "storage key_conflicts").value == 0
    # a 5-minute series may be older than 30 s: its limit adds the period and the poll interval
    assert measurement(result, "binance/BTCUSDT/oi_hist lag_event_s").threshold == 30 + 300 + 60
    text = result.text()
    assert "binance/BTCUSDT/bookTicker fill = 1 (>= 0.9)" in text
    assert text.splitlines()[-1].startswith("ALTDATA: PASS (")


def test_stale_stream_fails_on_both_clocks(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM quotes WHERE exchange = 'binance' AND ts > now() - interval '45 seconds'")
    result = run_check(healthy.db, "altdata")
    assert result.status == "FAIL" and result.exit_code == 1
    lag = measurement(result, "binance/BTCUSDT/bookTicker lag_event_s")
    assert lag.value is not None and 45 <= lag.value < 50 and not lag.ok
    assert not measurement(result, "binance/BTCUSDT/bookTicker lag_local_s").ok
    assert "binance/BTCUSDT/bookTicker lag_event_s" in result.summary()
    assert "upbit/KRW-BTC/orderbook lag_event_s" not in failed(result)


def test_low_fill_fails(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM mark_price WHERE extract(epoch FROM ts)::bigint % 2 = 0")
    result = run_check(healthy.db, "altdata")
    fill = measurement(result, "binance/BTCUSDT/markPrice@1s fill")
    assert fill.value is not None and 0.45 <= fill.value <= 0.55 and not fill.ok
    assert failed(result) == {"binance/BTCUSDT/markPrice@1s fill"}


def test_open_gap_fails(healthy: Evidence) -> None:
    healthy.execute(
        "INSERT INTO gaps (exchange, symbol, stream, start_ts, end_ts, status)"
        " VALUES ('binance', 'BTCUSDT', 'aggTrade', now() - interval '30 s', now() - interval '20 s', 'open')"
    )
    result = run_check(healthy.db, "altdata")
    assert failed(result) == {"binance/BTCUSDT/aggTrade open_gaps"}
    assert measurement(result, "binance/BTCUSDT/aggTrade open_gaps").value == 1


def test_reconnects_in_the_window_fail(healthy: Evidence) -> None:
    # 5 reconnects inside the window; the 2 before it do not count
    healthy.execute("UPDATE stream_status SET reconnects = 2 WHERE connection = 'upbit'")
    healthy.execute(
        "UPDATE stream_status SET reconnects = 7 WHERE connection = 'upbit' AND ts > now() - interval '30 s'"
    )
    result = run_check(healthy.db, "altdata")
    rec = measurement(result, "upbit/KRW-BTC/trade reconnects")
    assert rec.value == 5 and not rec.ok
    assert failed(result) == {"upbit/KRW-BTC/trade reconnects", "upbit/KRW-BTC/orderbook reconnects"}


def test_no_heartbeat_snapshot_fails(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM stream_status")
    result = run_check(healthy.db, "altdata")
    rec = measurement(result, "binance/BTCUSDT/aggTrade reconnects")
    assert rec.value is None and not rec.ok and "no stream_status snapshot" in rec.detail
    assert not measurement(result, "binance/BTCUSDT/forceOrder connection_lag_s").ok


def test_missing_coinglass_series_fails(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM metrics WHERE metric = 'liq_long_usd'")
    result = run_check(healthy.db, "altdata")
    assert failed(result) == {
        "coinglass/BTCUSDT/liq_long_usd lag_event_s",
        "coinglass/BTCUSDT/liq_long_usd lag_local_s",
    }


async def test_a_duplicate_trade_with_another_price_fails_naming_the_table(
    healthy: Evidence, tmp_path: Path
) -> None:
    with healthy.conn() as c:
        row = c.execute(
            "SELECT exchange, symbol, trade_id, ts, recv_ts, price, qty, side FROM trades"
            " WHERE exchange = 'binance' ORDER BY trade_id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    exchange, symbol, trade_id, ts, recv_ts, price, qty, side = row
    writer = Writer(healthy.db, Spool(tmp_path / "spool", 10**6))
    # the same trade id again, received later with another price: not stored, so the check must say so
    writer.put(
        "trades", [(exchange, symbol, trade_id, ts, recv_ts + timedelta(seconds=1), price + 1, qty, side)]
    )
    await writer.stop()
    assert writer.metrics.key_conflicts == {"trades": 1}

    result = run_check(healthy.db, "altdata")
    assert failed(result) == {"storage/trades key_conflicts"}
    conflict = measurement(result, "storage/trades key_conflicts")
    assert conflict.value == 1 and conflict.threshold == 0
    assert f"trade_id={trade_id}: price {price!r} -> {price + 1!r}" in conflict.detail
    assert "storage/trades key_conflicts 1 <= 0" in result.summary()
