"""Upbit JSON text in DEFAULT and SIMPLE (abbreviated keys) formats, with the wire's number formatting:
doubles with eight decimals (`100473000.00000000`), best bid/ask prices as plain integers."""

from __future__ import annotations

import time
from collections.abc import Sequence

from cqt.sim.upbit_day import UpbitDay
from cqt.sim.wire import Num, encode, fixed, plain_number, upbit_decimal

TRADE_KEYS = {
    "type": "ty",
    "code": "cd",
    "timestamp": "tms",
    "trade_date": "td",
    "trade_time": "ttm",
    "trade_timestamp": "ttms",
    "trade_price": "tp",
    "trade_volume": "tv",
    "ask_bid": "ab",
    "prev_closing_price": "pcp",
    "change": "c",
    "change_price": "cp",
    "sequential_id": "sid",
    "best_ask_price": "bap",
    "best_ask_size": "bas",
    "best_bid_price": "bbp",
    "best_bid_size": "bbs",
    "stream_type": "st",
}
TICKER_KEYS = {
    "type": "ty",
    "code": "cd",
    "opening_price": "op",
    "high_price": "hp",
    "low_price": "lp",
    "trade_price": "tp",
    "prev_closing_price": "pcp",
    "acc_trade_price": "atp",
    "change": "c",
    "change_price": "cp",
    "signed_change_price": "scp",
    "change_rate": "cr",
    "signed_change_rate": "scr",
    "ask_bid": "ab",
    "trade_volume": "tv",
    "acc_trade_volume": "atv",
    "trade_date": "tdt",
    "trade_time": "ttm",
    "trade_timestamp": "ttms",
    "acc_ask_volume": "aav",
    "acc_bid_volume": "abv",
    "highest_52_week_price": "h52wp",
    "highest_52_week_date": "h52wdt",
    "lowest_52_week_price": "l52wp",
    "lowest_52_week_date": "l52wdt",
    "market_state": "ms",
    "is_trading_suspended": "its",
    "delisting_date": "dd",
    "market_warning": "mw",
    "timestamp": "tms",
    "acc_trade_price_24h": "atp24h",
    "acc_trade_volume_24h": "atv24h",
    "stream_type": "st",
}
BOOK_KEYS = {
    "type": "ty",
    "code": "cd",
    "timestamp": "tms",
    "total_ask_size": "tas",
    "total_bid_size": "tbs",
    "orderbook_units": "obu",
    "stream_type": "st",
    "level": "lv",
}
UNIT_KEYS = {"ask_price": "ap", "bid_price": "bp", "ask_size": "as", "bid_size": "bs"}


def _obj(keys: dict[str, str], values: Sequence[str], simple: bool) -> str:
    names = keys.values() if simple else keys.keys()
    return "{" + ",".join(f'"{k}":{v}' for k, v in zip(names, values, strict=True)) + "}"


_clock_cache: dict[int, tuple[str, str, str, str]] = {}


def clock(ms: int) -> tuple[str, str, str, str]:
    """("2026-02-16", "13:16:54", "20260216", "131654") for a UTC millisecond time."""
    sec = ms // 1000
    hit = _clock_cache.get(sec)
    if hit is None:
        if len(_clock_cache) > 4096:
            _clock_cache.clear()
        t = time.gmtime(sec)
        hit = _clock_cache[sec] = (
            time.strftime("%Y-%m-%d", t),
            time.strftime("%H:%M:%S", t),
            time.strftime("%Y%m%d", t),
            time.strftime("%H%M%S", t),
        )
    return hit


def _q(text: str) -> str:
    return '"' + text + '"'


def trade(
    market: str,
    day: UpbitDay,
    E: int,
    T: int,
    price: float,
    qty: float,
    is_ask: bool,
    seq: int,
    book: tuple[float, float, float, float],
    stream_type: str,
    simple: bool,
) -> str:
    date, hms, _, _ = clock(T)
    change, diff = day.change(price)
    best_ask, best_ask_size, best_bid, best_bid_size = book
    values = (
        '"trade"',
        _q(market),
        str(E),
        _q(date),
        _q(hms),
        str(T),
        fixed(price, 8),
        fixed(qty, 8),
        '"ASK"' if is_ask else '"BID"',
        fixed(day.prev_close, 8),
        _q(change),
        fixed(abs(diff), 8),
        str(seq),
        str(plain_number(best_ask)),
        fixed(best_ask_size, 8),
        str(plain_number(best_bid)),
        fixed(best_bid_size, 8),
        _q(stream_type),
    )
    return _obj(TRADE_KEYS, values, simple)


def ticker(market: str, day: UpbitDay, E: int, stream_type: str, simple: bool) -> str:
    _, _, ymd, hms = clock(day.last_T)
    price = day.last_price
    change, diff = day.change(price)
    rate = abs(diff) / day.prev_close if day.prev_close else 0.0
    sign = -1.0 if diff < 0 else 1.0
    values = (
        '"ticker"',
        _q(market),
        fixed(day.open, 8),
        fixed(day.high, 8),
        fixed(day.low, 8),
        fixed(price, 8),
        fixed(day.prev_close, 8),
        fixed(day.acc_price, 8),
        _q(change),
        fixed(abs(diff), 8),
        fixed(sign * abs(diff), 8),
        fixed(rate, 10),
        fixed(sign * rate, 10),
        '"ASK"' if day.last_is_ask else '"BID"',
        fixed(day.last_qty, 8),
        fixed(day.acc_vol, 8),
        _q(ymd),
        _q(hms),
        str(day.last_T),
        fixed(day.acc_ask, 8),
        fixed(day.acc_bid, 8),
        fixed(day.high_52w, 8),
        _q(day.high_52w_date),
        fixed(day.low_52w, 8),
        _q(day.low_52w_date),
        '"ACTIVE"',
        "false",
        "null",
        '"NONE"',
        str(E),
        fixed(day.price_24h_base + day.acc_price, 8),
        fixed(day.vol_24h_base + day.acc_vol, 8),
        _q(stream_type),
    )
    return _obj(TICKER_KEYS, values, simple)


def orderbook(
    market: str,
    E: int,
    best_ask: float,
    best_bid: float,
    unit: float,
    ask_sizes: Sequence[float],
    bid_sizes: Sequence[float],
    level: int,
    stream_type: str,
    simple: bool,
) -> str:
    unit_keys = UNIT_KEYS.values() if simple else UNIT_KEYS.keys()
    ap, bp_, as_, bs = unit_keys
    units = ",".join(
        f'{{"{ap}":{fixed(best_ask + i * unit, 8)},"{bp_}":{fixed(best_bid - i * unit, 8)},'
        f'"{as_}":{fixed(a, 8)},"{bs}":{fixed(b, 8)}}}'
        for i, (a, b) in enumerate(zip(ask_sizes, bid_sizes, strict=True))
    )
    values = (
        '"orderbook"',
        _q(market),
        str(E),
        fixed(sum(ask_sizes), 8),
        fixed(sum(bid_sizes), 8),
        "[" + units + "]",
        _q(stream_type),
        str(level),
    )
    return _obj(BOOK_KEYS, values, simple)


def rest_tick(
    market: str, T: int, price: float, qty: float, is_ask: bool, seq: int, prev_close: float
) -> str:
    date, hms, _, _ = clock(T)
    return encode(
        {
            "market": market,
            "trade_date_utc": date,
            "trade_time_utc": hms,
            "timestamp": T,
            "trade_price": plain_number(price),
            "trade_volume": upbit_decimal(qty),
            "prev_closing_price": plain_number(prev_close),
            "change_price": plain_number(price - prev_close),
            "ask_bid": "ASK" if is_ask else "BID",
            "sequential_id": seq,
        }
    )


def candle(
    market: str,
    start_ms: int,
    prices: Sequence[float],
    qtys: Sequence[float],
    last_T: int,
    extra: dict[str, Num] | None,
) -> str:
    utc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_ms // 1000))
    kst = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_ms // 1000 + 9 * 3600))
    body: dict[str, object] = {
        "market": market,
        "candle_date_time_utc": utc,
        "candle_date_time_kst": kst,
        "opening_price": upbit_decimal(prices[0]),
        "high_price": upbit_decimal(max(prices)),
        "low_price": upbit_decimal(min(prices)),
        "trade_price": upbit_decimal(prices[-1]),
        "timestamp": last_T,
        "candle_acc_trade_price": upbit_decimal(sum(p * q for p, q in zip(prices, qtys, strict=True))),
        "candle_acc_trade_volume": upbit_decimal(sum(qtys)),
    }
    body.update(extra or {})
    return encode(body)  # type: ignore[arg-type]


def error(name: str, message: str) -> str:
    return encode({"error": {"name": name, "message": message}})


# Names as Upbit lists them; a simulated coin it does not name gets its code for both.
_NAMES = {
    "BTC": ("비트코인", "Bitcoin"),
    "ETH": ("이더리움", "Ethereum"),
    "SOL": ("솔라나", "Solana"),
    "XRP": ("엑스알피(리플)", "XRP"),
}
_CAUTIONS = (
    "PRICE_FLUCTUATIONS",
    "TRADING_VOLUME_SOARING",
    "DEPOSIT_AMOUNT_SOARING",
    "GLOBAL_PRICE_DIFFERENCES",
    "CONCENTRATION_OF_SMALL_ACCOUNTS",
)


def market_entry(market: str, asset: str, details: bool) -> str:
    """One element of `GET /v1/market/all`; `market_event` only with `isDetails=true`, as Upbit sends it."""
    korean, english = _NAMES.get(asset, (asset, asset))
    body: dict[str, object] = {"market": market, "korean_name": korean, "english_name": english}
    if details:
        body["market_event"] = {"warning": False, "caution": dict.fromkeys(_CAUTIONS, False)}
    return encode(body)  # type: ignore[arg-type]
