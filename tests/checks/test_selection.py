"""`--symbol` selects a Binance symbol with its Upbit market only when that market is collected."""

from __future__ import annotations

import pytest

from cqt.checks.context import selected
from cqt.config import load_settings


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        (None, (["BTCUSDT", "ETHUSDT"], ["KRW-BTC"])),
        ("btcusdt", (["BTCUSDT"], ["KRW-BTC"])),
        ("ETHUSDT", (["ETHUSDT"], [])),  # KRW-ETH is not collected: no Upbit stream to judge
        ("KRW-ETH", ([], ["KRW-ETH"])),
    ],
)
def test_selected(symbol: str | None, expected: tuple[list[str], list[str]]) -> None:
    settings = load_settings(None, binance_symbols=["BTCUSDT", "ETHUSDT"], upbit_markets=["KRW-BTC"])
    assert selected(settings, symbol) == expected
