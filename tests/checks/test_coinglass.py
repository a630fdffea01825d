"""coinglass: a simulator run passes on its own key; a bad key, a disabled collector and a live run with
a placeholder key FAIL with the reason; the key itself is never printed."""

from __future__ import annotations

from tests.checks.conftest import Evidence, failed, measurement, run_check

REAL_LOOKING_KEY = "a3f9c2d17b8e4f60a1b2c3d4e5f60718"


def test_simulator_run_passes_on_the_simulator_key(healthy: Evidence) -> None:
    result = run_check(healthy.db, "coinglass", coinglass_api_key="")
    assert result.status == "PASS", result.text()
    key = measurement(result, "coinglass key")
    assert key.ok and f"simulator key used by run {healthy.run_id}" in key.detail
    ok = measurement(result, "coinglass /api/futures/funding-rate/history ok_calls")
    assert ok.value == 1  # one call a minute, one in the 60 s window


def test_live_run_with_a_bad_key_fails_with_body_codes(healthy: Evidence) -> None:
    healthy.execute("UPDATE bot_runs SET source = 'live'")
    healthy.execute("DELETE FROM coinglass_call_status WHERE ts > now() - interval '70 s'")
    healthy.execute(
        "INSERT INTO coinglass_call_status (ts, symbol, endpoint, ok, http_status, body_code, error)"
        " SELECT now() - make_interval(secs => k), 'BTCUSDT', '/api/futures/funding-rate/history',"
        " false, 200,"
        " '30001', 'API key missing' FROM generate_series(1, 3) k"
    )
    result = run_check(healthy.db, "coinglass", coinglass_api_key="your_coinglass_api_key_here")
    assert result.exit_code == 1
    key = measurement(result, "coinglass key")
    assert not key.ok and "placeholder (length 27)" in key.detail and "live run" in key.detail
    share = measurement(result, "coinglass fail_share")
    assert share.value == 1.0 and "code 30001" in share.detail
    assert "coinglass /api/futures/funding-rate/history ok_calls" in failed(result)


def test_live_run_with_a_usable_key_passes_and_never_prints_it(healthy: Evidence) -> None:
    healthy.execute("UPDATE bot_runs SET source = 'live'")
    result = run_check(healthy.db, "coinglass", coinglass_api_key=REAL_LOOKING_KEY)
    assert result.status == "PASS", result.text()
    assert "usable (length 32)" in measurement(result, "coinglass key").detail
    assert REAL_LOOKING_KEY not in result.text() + result.to_json()


def test_disabled_collector_fails(healthy: Evidence) -> None:
    result = run_check(healthy.db, "coinglass", coinglass_enabled=False)
    assert failed(result) == {"coinglass enabled"}
    assert "COINGLASS_ENABLED=False" in measurement(result, "coinglass enabled").detail


def test_no_series_rows_fails(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM metrics WHERE source = 'coinglass' AND symbol = 'BTC'")
    result = run_check(healthy.db, "coinglass")
    assert failed(result) == {"coinglass /api/futures/open-interest/aggregated-history series_rows"}
