"""Instrument facts the simulator needs: starting prices, tick sizes, typical sizes, activity shares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssetSpec:
    price_usdt: float
    daily_vol: float
    activity: float  # relative trade intensity; BTC = 1
    tick: float  # Binance USD-M price tick
    price_decimals: int
    qty_step: float
    qty_decimals: int
    mean_qty: float  # typical Binance aggTrade size in base units
    open_interest: float  # base units


_ASSETS: dict[str, AssetSpec] = {
    "BTC": AssetSpec(85_000.0, 0.025, 1.0, 0.1, 2, 0.001, 3, 0.012, 95_000.0),
    "ETH": AssetSpec(3_000.0, 0.035, 0.6, 0.01, 2, 0.001, 3, 0.35, 2_100_000.0),
    "SOL": AssetSpec(150.0, 0.045, 0.3, 0.01, 2, 0.01, 2, 4.0, 9_000_000.0),
    "XRP": AssetSpec(1.5, 0.045, 0.3, 0.0001, 4, 0.1, 1, 900.0, 400_000_000.0),
}
_FALLBACK = AssetSpec(10.0, 0.05, 0.2, 0.001, 3, 1.0, 0, 100.0, 50_000_000.0)

USD_KRW = 1_400.0


def asset_spec(asset: str) -> AssetSpec:
    return _ASSETS.get(asset, _FALLBACK)


def binance_asset(symbol: str) -> str:
    if not symbol.endswith("USDT"):
        raise ValueError(f"only USDT-margined perpetuals are simulated, got {symbol!r}")
    return symbol[: -len("USDT")]


def upbit_asset(market: str) -> str:
    return market.split("-", 1)[1]


def upbit_tick(price_krw: float) -> float:
    """KRW market tick size by price band (Upbit's published table, coarse bands only)."""
    for floor, tick in (
        (2_000_000, 1000.0),
        (1_000_000, 500.0),
        (500_000, 100.0),
        (100_000, 50.0),
        (10_000, 10.0),
        (1_000, 1.0),
        (100, 0.1),
        (10, 0.01),
    ):
        if price_krw >= floor:
            return tick
    return 0.001
