"""The simulator's listings, which the bot checks its symbols against at start: Binance
`/fapi/v1/exchangeInfo` in the field set and number forms of the sample, filter kind by filter kind (its
`filters` array mixes object kinds, so the generic contract test cannot compare it), and both venues list
exactly what the simulator serves."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from cqt.collect.venue_symbols import binance_status, upbit_status
from cqt.sim import SimServer

from .conftest import SAMPLES
from .shapes import shape_diff, token_diff

SAMPLE = "binance_exchangeInfo_2021.json"


def by_filter_kind(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with each symbol's `filters` array turned into an object keyed by filterType."""
    symbols = [{**s, "filters": {f["filterType"]: f for f in s["filters"]}} for s in body["symbols"]]
    return {**body, "symbols": symbols}


async def _text(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


async def test_exchange_info_has_the_sample_fields_and_number_forms(sim: SimServer) -> None:
    text = await _text(sim.urls.binance_rest + "/fapi/v1/exchangeInfo")
    sample_text = (SAMPLES / SAMPLE).read_text()
    sample, got = json.loads(sample_text), json.loads(text)
    assert shape_diff(by_filter_kind(sample), by_filter_kind(got)) == [], text[:500]
    for sample_symbol, got_symbol in zip(sample["symbols"], got["symbols"], strict=False):
        assert token_diff(json.dumps(sample_symbol), json.dumps(got_symbol)) == []
    assert token_diff(sample_text, text) == []


async def test_both_venues_list_what_the_simulator_serves(sim: SimServer) -> None:
    binance = json.loads(await _text(sim.urls.binance_rest + "/fapi/v1/exchangeInfo"))
    assert binance_status(binance) == dict.fromkeys(sim.cfg.binance_symbols, "TRADING")
    upbit = json.loads(await _text(sim.urls.upbit_rest + "/v1/market/all"))
    assert set(upbit_status(upbit)) == set(sim.cfg.upbit_symbols)
    btc = next(s for s in binance["symbols"] if s["symbol"] == "BTCUSDT")
    tick = next(f["tickSize"] for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")
    assert (btc["baseAsset"], btc["pricePrecision"], tick) == ("BTC", 2, "0.10")
