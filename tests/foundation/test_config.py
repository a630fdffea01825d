"""Settings: defaults, .env.example completeness, clear rejections, secrets never shown."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from cqt.config import ConfigError, Settings, UnknownSettingWarning, env_names, is_placeholder, load_settings
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / ".env.example"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names():
        monkeypatch.delenv(name, raising=False)


def _example_keys() -> set[str]:
    # Commented-out settings (`# DB_URL=`) are documented too.
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), flags=re.MULTILINE))


def test_every_setting_is_documented_in_env_example() -> None:
    assert env_names() == _example_keys()


def test_env_example_loads_without_warnings_and_keys_are_placeholders() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = load_settings(EXAMPLE)
    assert settings.db_url is None
    assert not settings.coinglass_key_usable
    assert settings.binance_ws_market_url.endswith("/market")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("COINGLASS_ENABLED", "maybe", "valid boolean"),
        ("BINANCE_SYMBOLS", "BTC-USD", "BTCUSDT"),
        ("UPBIT_MARKETS", "BTC-ETH", "KRW-BTC"),
        ("UPBIT_WS_URL", "http://example.org/websocket/v1", "ws://"),
        ("BINANCE_REST_URL", "fapi.binance.com", "http://"),
        ("DB_CONNECT_TIMEOUT_S", "0", "greater than or equal to 1"),
        ("LOG_LEVEL", "LOUD", "match pattern"),
    ],
)
def test_malformed_values_are_rejected_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    message = str(info.value)
    assert f"invalid setting {name}=" in message
    assert fragment in message


def test_comma_lists_are_split_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_SYMBOLS", " btcusdt, ETHUSDT ,")
    monkeypatch.setenv("UPBIT_MARKETS", "krw-btc,KRW-ETH")
    settings = load_settings(None)
    assert settings.binance_symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.upbit_markets == ["KRW-BTC", "KRW-ETH"]


def test_unknown_env_file_key_warns_but_loads(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("LOG_LEVEL=DEBUG\nBINANCE_SYMBOLZ=ETHUSDT\n")
    with pytest.warns(UnknownSettingWarning, match="BINANCE_SYMBOLZ"):
        settings = load_settings(env)
    assert settings.log_level == "DEBUG"


def test_secrets_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "cg-live-9f8e7d6c5b4a39281706f5e4"
    monkeypatch.setenv("COINGLASS_API_KEY", key)
    monkeypatch.setenv("DB_URL", "postgresql://u:pw-12345@h/db")
    settings = load_settings(None)
    assert settings.coinglass_key_usable
    assert key not in repr(settings) and key not in str(settings.model_dump())
    assert "pw-12345" not in repr(settings)
    monkeypatch.setenv("LOG_LEVEL", "nope")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert key not in str(info.value) and "pw-12345" not in str(info.value)


@pytest.mark.parametrize(
    "value",
    ["", "  ", "your_coinglass_api_key_here", "CHANGEME", "change-me-please", "<your key>", "xxxx", "..."],
)
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["9f8e7d6c5b4a39281706f5e4d3c2b1a0", "cqt-sim-0123456789abcdef01234567"])
def test_real_looking_keys_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_settings_fields_all_have_defaults() -> None:
    assert all(not field.is_required() for field in Settings.model_fields.values())
