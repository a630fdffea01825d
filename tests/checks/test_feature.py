"""feature: healthy bars and predictions pass; a null burst, out-of-range values and stale bars FAIL."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from tests.checks.conftest import Evidence, failed, measurement, run_check


def test_healthy_bars_and_predictions_pass(healthy: Evidence) -> None:
    result = run_check(healthy.db, "feature")
    assert result.status == "PASS", result.text()
    bars = measurement(result, "market_1s binance/BTCUSDT bars")
    assert bars.value is not None and 58 <= bars.value <= 60
    count = measurement(result, "predictions BTCUSDT count")
    assert count.value is not None and count.value >= 10
    # the bot run started SPAN_S (200 s) before now: the 5-minute OI change cannot exist yet, and says so
    oi = measurement(result, "predictions BTCUSDT null_oi_change_5m")
    assert oi.value is None and oi.detail.startswith("not judged")


def test_null_burst_in_bars_fails(healthy: Evidence) -> None:
    healthy.execute(
        "UPDATE market_1s SET spread_bps = NULL WHERE exchange = 'upbit' AND ts > now() - interval '15 s'"
    )
    result = run_check(healthy.db, "feature")
    null = measurement(result, "market_1s upbit/KRW-BTC null_spread")
    assert null.value is not None and 0.2 <= null.value <= 0.3 and not null.ok
    assert failed(result) == {"market_1s upbit/KRW-BTC null_spread"}


def test_null_burst_in_prediction_features_fails(healthy: Evidence) -> None:
    healthy.execute(
        "UPDATE predictions SET features = features || '{\"funding_rate\": null}'::jsonb"
        " WHERE ts > now() - interval '20 s'"
    )
    result = run_check(healthy.db, "feature")
    assert failed(result) == {"predictions BTCUSDT null_funding_rate"}
    null = measurement(result, "predictions BTCUSDT null_funding_rate").value
    assert null is not None and null >= 0.25


def test_probabilities_not_summing_to_one_fail(healthy: Evidence) -> None:
    healthy.execute(
        "INSERT INTO predictions"
        " (symbol, ts, created_at, model, horizon_s, r_t, p_up, p_down, p_none, features)"
        " VALUES ('BTCUSDT', date_trunc('second', now()) - interval '1 s', now(), 'other', 30, 0.001,"
        " 0.5, 0.4, 0.2, %s)",
        (Jsonb({"close": -3.0}),),
    )
    result = run_check(healthy.db, "feature")
    assert {"predictions BTCUSDT bad_probabilities", "predictions BTCUSDT bad_values"} <= failed(result)
    assert "close=-3.0" in measurement(result, "predictions BTCUSDT bad_values").detail


def test_stale_and_gap_shares_fail(healthy: Evidence) -> None:
    healthy.execute(
        "UPDATE market_1s SET stale = true WHERE exchange = 'binance' AND extract(second FROM ts) < 40"
    )
    healthy.execute(
        "UPDATE market_1s SET gap = true WHERE exchange = 'upbit' AND ts > now() - interval '10 s'"
    )
    result = run_check(healthy.db, "feature")
    stale = measurement(result, "market_1s binance/BTCUSDT stale_share")
    assert stale.value is not None and stale.value > 0.6 and not stale.ok
    assert "market_1s upbit/KRW-BTC gap_share" in failed(result)
