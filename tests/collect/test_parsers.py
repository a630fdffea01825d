"""Parsers against the real payload samples: every field lands in the right column, in UTC, exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cqt.collect import binance_parse as bn
from cqt.collect import coinglass_parse as cg
from cqt.collect import upbit_parse as up
from cqt.collect.rows import MalformedFrame, ms_to_dt
from cqt.store.tables import LIQUIDATIONS, MARK_PRICE, METRICS, QUOTES, TRADES
from tests.collect.samples import sample

RECV = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
T_MS = 1791269849651  # a plausible wire time: 2026-10-06


def as_dict(columns: tuple[str, ...], row: tuple[object, ...]) -> dict[str, object]:
    assert len(row) == len(columns)
    return dict(zip(columns, row, strict=True))


def test_ms_to_dt_is_exact_where_float_division_is_not() -> None:
    for ms in (1791269849651, 1, 999, 253402300799999):
        dt = ms_to_dt(ms)
        assert (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1) == ms


def test_binance_aggtrade_raw_2026() -> None:
    row = as_dict(TRADES.columns, bn.agg_trade(sample("binance_aggTrade_raw_2026.json"), RECV))
    assert row == {
        "exchange": "binance", "symbol": "BTCUSDT", "trade_id": 3476312671,
        "ts": datetime(2026, 10, 6, 6, 57, 29, 651000, tzinfo=UTC), "recv_ts": RECV,
        "price": 85299.90, "qty": 0.004, "side": -1,  # m=true: buyer was maker, taker sold
    }  # fmt: skip


def test_binance_combined_envelope_is_unwrapped() -> None:
    stream, data = bn.unwrap(sample("binance_aggTrade_combined_2021.json"))
    assert stream == "ctkusdt@aggTrade"
    row = as_dict(TRADES.columns, bn.agg_trade(data, RECV))
    assert (row["symbol"], row["trade_id"], row["side"], row["qty"]) == ("CTKUSDT", 16599292, 1, 10.0)
    assert bn.unwrap({"e": "aggTrade"}) == (None, {"e": "aggTrade"})


def test_binance_rest_aggtrades_share_stream_ids() -> None:
    (row,) = bn.rest_agg_trades("BTCUSDT", sample("binance_aggTrades_rest.json"), RECV)
    got = as_dict(TRADES.columns, row)
    assert (got["trade_id"], got["price"], got["side"]) == (2928585634, 103995.10, 1)


def test_binance_book_ticker_live_2026() -> None:
    row = as_dict(QUOTES.columns, bn.book_ticker(sample("binance_bookTicker_raw_live_2026.json"), RECV))
    assert row["seq"] == 11730346419457
    assert row["ts"] == datetime(2026, 10, 4, 5, 16, 47, 473000, tzinfo=UTC)
    assert (row["bid_price"], row["bid_qty"], row["ask_price"], row["ask_qty"]) == (
        84788.20,
        5.923,
        84788.30,
        2.824,
    )


def test_binance_mark_price_combined_and_array() -> None:
    _, data = bn.unwrap(sample("binance_markPrice_combined_2026.json"))
    (row,) = bn.mark_prices(data, RECV)
    got = as_dict(MARK_PRICE.columns, row)
    assert got["ts"] == datetime(2026, 9, 27, 16, 28, 59, tzinfo=UTC)
    assert (got["mark_price"], got["index_price"], got["funding_rate"]) == (
        84551.10762319,
        84590.87304348,
        0.00000801,
    )
    assert got["next_funding_ts"] == datetime(2026, 9, 28, 0, 0, tzinfo=UTC)
    assert len(bn.mark_prices([data, sample("binance_markPrice_docs.json")], RECV)) == 2


@pytest.mark.parametrize(
    "name",
    [
        "binance_forceOrder_arr_combined_live_2026.json",
        "binance_forceOrder_symbol_combined_live_2026.json",
        "binance_forceOrder_raw_live_2026.json",
        "binance_forceOrder_arr_combined_2021.json",
    ],
)
def test_binance_force_orders(name: str) -> None:
    raw = sample(name)
    _, data = bn.unwrap(raw)
    (row,) = bn.force_orders(data, RECV)
    got = as_dict(LIQUIDATIONS.columns, row)
    o = data["o"]
    assert got["symbol"] == o["s"] and got["side"] == o["S"] and got["status"] == "FILLED"
    assert got["qty"] == float(o["z"]) and got["avg_price"] == float(o["ap"])
    assert got["ts"] == ms_to_dt(o["T"])
    assert len(bn.force_orders([data, data], RECV)) == 2  # array form accepted


def test_binance_period_series_are_stamped_at_period_end() -> None:
    rows = bn.period_series(
        "openInterestHist", "BTCUSDT", "5m", sample("binance_openInterestHist.json"), RECV
    )
    got = [as_dict(METRICS.columns, r) for r in rows]
    oi = [r for r in got if r["metric"] == "oi_hist"]
    # timestamp 1791284400000 = 2026-10-06 11:00:00 UTC is the period start; the value is usable from 11:05.
    assert oi[0]["ts"] == datetime(2026, 10, 6, 11, 5, tzinfo=UTC)
    assert oi[0]["value"] == 94731.046 and oi[0]["period_s"] == 300
    basis = bn.period_series("basis", "BTCUSDT", "5m", sample("binance_basis.json"), RECV)
    assert {as_dict(METRICS.columns, r)["metric"] for r in basis} == {"basis", "basis_rate"}  # "" skipped
    taker = bn.period_series(
        "takerlongshortRatio", "BTCUSDT", "5m", sample("binance_takerlongshortRatio.json"), RECV
    )
    assert len(taker) == 3
    ls = bn.period_series(
        "globalLongShortAccountRatio",
        "BTCUSDT",
        "5m",
        sample("binance_globalLongShortAccountRatio.json"),
        RECV,
    )
    values = {as_dict(METRICS.columns, r)["metric"]: as_dict(METRICS.columns, r)["value"] for r in ls}
    assert values["global_long_short_ratio"] == 1.6434
    assert values["global_long_account"] + values["global_short_account"] == pytest.approx(1.0)  # type: ignore[operator]


def test_binance_instants_open_interest_premium_funding() -> None:
    (oi,) = bn.open_interest(sample("binance_openInterest.json"), RECV)
    assert as_dict(METRICS.columns, oi)["value"] == 94791.893
    assert as_dict(METRICS.columns, oi)["period_s"] is None
    prem = {
        as_dict(METRICS.columns, r)["metric"]: r
        for r in bn.premium_index(sample("binance_premiumIndex_docs.json"), RECV)
    }
    assert as_dict(METRICS.columns, prem["premium_index"])["value"] == pytest.approx(
        (11793.63104562 - 11781.80495970) / 11781.80495970
    )
    (fr,) = bn.funding_history(sample("binance_fundingRate.json"), RECV)
    assert as_dict(METRICS.columns, fr)["value"] == -0.00002485
    assert as_dict(METRICS.columns, fr)["ts"] == ms_to_dt(1791244800003)


def test_upbit_trade_default_and_simple() -> None:
    got = as_dict(TRADES.columns, up.trade(sample("upbit_trade.json"), RECV))
    # the sample's own trade_date/trade_time fields say 2026-02-16 13:16:54 UTC
    assert got["ts"] == datetime(2026, 2, 16, 13, 16, 54, 642000, tzinfo=UTC)
    assert (got["trade_id"], got["price"], got["qty"], got["side"]) == (
        17712478146420000,
        103160000.0,
        0.0005,
        1,
    )
    simple = as_dict(TRADES.columns, up.trade(sample("upbit_trade_simple.json"), RECV))
    assert (simple["symbol"], simple["trade_id"], simple["price"]) == ("KRW-LAMB", 1618678262000003, 127.0)
    assert simple["ts"] == datetime(2021, 4, 17, 16, 51, 2, tzinfo=UTC)


def test_upbit_rest_ticks_and_orderbooks() -> None:
    (row,) = up.rest_trades("KRW-BTC", sample("upbit_rest_trades_ticks.json"), RECV)
    got = as_dict(TRADES.columns, row)
    assert got["ts"] == datetime(2025, 6, 27, 23, 59, 59, 336000, tzinfo=UTC)
    assert got["trade_id"] == 17510687993360000
    book = as_dict(QUOTES.columns, up.orderbook_top(sample("upbit_orderbook.json"), RECV))
    assert (book["bid_price"], book["ask_price"], book["bid_qty"]) == (103156000.0, 103161000.0, 0.77970543)
    simple = as_dict(QUOTES.columns, up.orderbook_top(sample("upbit_orderbook_simple.json"), RECV))
    assert (simple["symbol"], simple["bid_price"], simple["ask_price"]) == ("KRW-LAMB", 126.0, 127.0)
    depth = dict(sample("upbit_orderbook.json"), code="KRW-BTC.5")
    assert as_dict(QUOTES.columns, up.orderbook_top(depth, RECV))["symbol"] == "KRW-BTC"


def test_coinglass_outcomes_follow_the_body_code_not_http() -> None:
    assert cg.outcome(200, sample("coinglass_funding_rate_history_docs.json")).ok
    assert cg.outcome(200, sample("coinglass_liquidation_history_v4_example_2023.json")).ok  # no msg
    for name in ("coinglass_error_missing_key_v4.json", "coinglass_error_bad_key_v4.json",
                 "coinglass_error_upgrade_plan_v4.json"):  # fmt: skip
        result = cg.outcome(200, sample(name))
        assert not result.ok and result.body_code == sample(name)["code"]
        assert sample(name)["msg"] in (result.error or "")
    assert not cg.outcome(500, {"code": "0"}).ok
    assert not cg.outcome(200, ["not", "an", "object"]).ok


def test_coinglass_series_use_bucket_end_and_accept_strings_and_numbers() -> None:
    body = sample("coinglass_liquidation_history_docs.json")
    rows = [
        as_dict(METRICS.columns, r)
        for r in cg.series_rows("/api/futures/liquidation/history", "BTCUSDT", "1d", body, RECV)
    ]
    assert rows[0]["ts"] == ms_to_dt(1658880000000) + timedelta(days=1)
    assert rows[0]["value"] == 2369935.19562 and rows[0]["metric"] == "liq_long_usd"
    ls = cg.series_rows(
        "/api/futures/global-long-short-account-ratio/history", "BTCUSDT", "1h",
        sample("coinglass_global_long_short_account_ratio_docs.json"), RECV,
    )  # fmt: skip
    assert [as_dict(METRICS.columns, r)["value"] for r in ls[:3]] == [73.88, 26.12, 2.83]


@pytest.mark.parametrize(
    ("parse", "payload", "message"),
    [
        (
            bn.agg_trade,
            {"e": "aggTrade", "s": "BTCUSDT", "a": 1, "p": "x", "q": "1", "T": T_MS, "m": True},
            "p: expected a number",
        ),
        (
            bn.agg_trade,
            {"e": "aggTrade", "s": "BTCUSDT", "a": 1, "p": "1", "q": "0", "T": T_MS, "m": True},
            "not positive",
        ),
        (
            bn.agg_trade,
            {"e": "aggTrade", "s": "BTCUSDT", "p": "1", "q": "1", "T": T_MS, "m": True},
            "missing field 'a'",
        ),
        (bn.agg_trade, {"e": "trade"}, "expected an aggTrade"),
        (
            bn.book_ticker,
            {"e": "bookTicker", "u": 1, "T": T_MS, "s": "X", "b": "1", "B": "1", "a": "2"},
            "missing field 'A'",
        ),
        (
            up.trade,
            {
                "type": "trade",
                "code": "KRW-BTC",
                "trade_price": 1,
                "trade_volume": 1,
                "ask_bid": "X",
                "sequential_id": 1,
                "trade_timestamp": T_MS,
            },
            "ask_bid",
        ),  # fmt: skip
        (
            up.orderbook_top,
            {"type": "orderbook", "code": "KRW-BTC", "timestamp": T_MS, "orderbook_units": []},
            "non-empty",
        ),
    ],
)
def test_malformed_payloads_raise_malformed_frame(parse, payload, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedFrame, match=message):
        parse(payload, RECV)


def test_snapshot_seq_keeps_distinct_books_of_one_millisecond_and_absorbs_repeats() -> None:
    from datetime import UTC, datetime

    from cqt.collect.upbit_parse import SnapshotSeq

    now = datetime.now(UTC)
    book = lambda ms, bid: ("upbit", "KRW-BTC", ms, now, now, bid, 1.0, bid + 1000, 2.0)  # noqa: E731
    seq = SnapshotSeq()
    numbered = [seq.number(r)[2] for r in (book(5, 100.0), book(5, 101.0), book(5, 100.0), book(6, 100.0))]
    assert numbered == [5000, 5001, 5000, 6000]
