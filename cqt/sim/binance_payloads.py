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
