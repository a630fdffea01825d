"""Binance USD-M JSON text, field for field as the 2026 live frames (`nq`, `ps`, `st` included)."""

from __future__ import annotations

from cqt.sim.specs import AssetSpec
from cqt.sim.tables import BinanceQuotes, BinanceTrades, Liquidations, MarkPrices
from cqt.sim.wire import fixed


def _b(flag: bool) -> str:
    return "true" if flag else "false"


def agg_trades(symbol: str, spec: AssetSpec, t: BinanceTrades) -> list[str]:
    pd, qd = spec.price_decimals, spec.qty_decimals
    out = []
    for E, a, p, q, f, last, T, m in zip(
        t.E.tolist(),
        t.agg_id.tolist(),
        t.price.tolist(),
        t.qty.tolist(),
        t.first_id.tolist(),
        t.last_id.tolist(),
        t.T.tolist(),
        t.buyer_maker.tolist(),
        strict=True,
    ):
        q_text = f"{q:.{qd}f}"
        out.append(
            f'{{"e":"aggTrade","E":{E},"a":{a},"s":"{symbol}","p":"{p:.{pd}f}","q":"{q_text}","nq":"{q_text}",'
            f'"f":{f},"l":{last},"T":{T},"m":{_b(m)},"st":1}}'
        )
    return out


def rest_agg_trades(spec: AssetSpec, t: BinanceTrades) -> list[str]:
    pd, qd = spec.price_decimals, spec.qty_decimals
    return [
        f'{{"a":{a},"p":"{p:.{pd}f}","q":"{q:.{qd}f}","f":{f},"l":{last},"T":{T},"m":{_b(m)}}}'
        for a, p, q, f, last, T, m in zip(
            t.agg_id.tolist(),
            t.price.tolist(),
            t.qty.tolist(),
            t.first_id.tolist(),
            t.last_id.tolist(),
            t.T.tolist(),
            t.buyer_maker.tolist(),
            strict=True,
        )
    ]


def book_tickers(symbol: str, spec: AssetSpec, t: BinanceQuotes) -> list[str]:
    pd, qd = spec.price_decimals, spec.qty_decimals
    return [
        f'{{"e":"bookTicker","u":{u},"s":"{symbol}","ps":"{symbol}","b":"{b:.{pd}f}","B":"{bq:.{qd}f}",'
        f'"a":"{a:.{pd}f}","A":"{aq:.{qd}f}","T":{T},"E":{E},"st":1}}'
        for u, b, bq, a, aq, T, E in zip(
            t.update_id.tolist(),
            t.bid.tolist(),
            t.bid_qty.tolist(),
            t.ask.tolist(),
            t.ask_qty.tolist(),
            t.T.tolist(),
            t.E.tolist(),
            strict=True,
        )
    ]


def mark_price(symbol: str, t: MarkPrices, i: int) -> str:
    return (
        f'{{"e":"markPriceUpdate","E":{int(t.E[i])},"s":"{symbol}","p":"{fixed(float(t.mark[i]), 8)}",'
        f'"ap":"{fixed(float(t.mark_avg[i]), 8)}","P":"{fixed(float(t.settle[i]), 8)}",'
        f'"i":"{fixed(float(t.index[i]), 8)}","r":"{fixed(float(t.funding_rate[i]), 8)}",'
        f'"T":{int(t.next_funding[i])},"st":1}}'
    )


def force_order(symbol: str, spec: AssetSpec, t: Liquidations, i: int, event_ms: int) -> str:
    pd, qd = spec.price_decimals, spec.qty_decimals
    side = "SELL" if bool(t.is_sell[i]) else "BUY"
    return (
        f'{{"e":"forceOrder","E":{event_ms},"o":{{"s":"{symbol}","S":"{side}","o":"LIMIT","f":"IOC",'
        f'"q":"{fixed(float(t.qty[i]), qd)}","p":"{fixed(float(t.price[i]), pd)}",'
        f'"ap":"{fixed(float(t.avg_price[i]), pd)}","X":"FILLED","l":"{fixed(float(t.last_qty[i]), qd)}",'
        f'"z":"{fixed(float(t.qty[i]), qd)}","T":{int(t.T[i])},"ps":"{symbol}","st":1}}}}'
    )


def envelope(stream: str, payload: str) -> str:
    return f'{{"stream":"{stream}","data":{payload}}}'


_ORDER_TYPES = (
    '["LIMIT","MARKET","STOP","STOP_MARKET","TAKE_PROFIT","TAKE_PROFIT_MARKET","TRAILING_STOP_MARKET"]'
)


def exchange_symbol(symbol: str, asset: str, spec: AssetSpec) -> str:
    """One `symbols` entry of `GET /fapi/v1/exchangeInfo`: a TRADING perpetual with its filters."""
    pd, qd = spec.price_decimals, spec.qty_decimals
    tick, step = fixed(spec.tick, pd), fixed(spec.qty_step, qd)
    min_price = fixed(spec.price_usdt * 0.0065, pd)
    max_price = fixed(spec.price_usdt * 53.0, 0)
    max_qty = fixed(spec.mean_qty * 80_000, 0)
    return (
        f'{{"symbol":"{symbol}","pair":"{symbol}","contractType":"PERPETUAL","deliveryDate":4133404800000,'
        f'"onboardDate":1569398400000,"status":"TRADING","maintMarginPercent":"2.5000",'
        f'"requiredMarginPercent":"5.0000","baseAsset":"{asset}","quoteAsset":"USDT","marginAsset":"USDT",'
        f'"pricePrecision":{pd},"quantityPrecision":{qd},"baseAssetPrecision":8,"quotePrecision":8,'
        f'"underlyingType":"COIN","underlyingSubType":[],"settlePlan":0,"triggerProtect":"0.0500",'
        f'"liquidationFee":"0.012500","marketTakeBound":"0.05",'
        f'"filters":[{{"minPrice":"{min_price}","maxPrice":"{max_price}","filterType":"PRICE_FILTER",'
        f'"tickSize":"{tick}"}},{{"stepSize":"{step}","filterType":"LOT_SIZE","maxQty":"{max_qty}",'
        f'"minQty":"{step}"}},{{"stepSize":"{step}","filterType":"MARKET_LOT_SIZE","maxQty":"{max_qty}",'
        f'"minQty":"{step}"}},{{"limit":200,"filterType":"MAX_NUM_ORDERS"}},'
        f'{{"limit":10,"filterType":"MAX_NUM_ALGO_ORDERS"}},{{"notional":"5","filterType":"MIN_NOTIONAL"}},'
        f'{{"multiplierDown":"0.9500","multiplierUp":"1.0500","multiplierDecimal":"4",'
        f'"filterType":"PERCENT_PRICE"}}],"orderTypes":{_ORDER_TYPES},"timeInForce":["GTC","IOC","FOK","GTX"]}}'
    )


def exchange_info(server_time: int, weight_limit: int, symbols: list[str]) -> str:
    """`GET /fapi/v1/exchangeInfo`: the venue's rules and every listed symbol (`symbols`: their entries)."""
    return (
        f'{{"timezone":"UTC","serverTime":{server_time},"futuresType":"U_MARGINED",'
        f'"rateLimits":[{{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":{weight_limit}}},'
        '{"rateLimitType":"ORDERS","interval":"MINUTE","intervalNum":1,"limit":1200},'
        '{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":300}],"exchangeFilters":[],'
        '"assets":[{"asset":"USDT","marginAvailable":true,"autoAssetExchange":"-10000"},'
        '{"asset":"BTC","marginAvailable":true,"autoAssetExchange":"-0.00100000"},'
        '{"asset":"BNB","marginAvailable":true,"autoAssetExchange":"-10"},'
        '{"asset":"ETH","marginAvailable":true,"autoAssetExchange":"-5"}],'
        f'"symbols":[{",".join(symbols)}]}}'
    )
