"""Settings: environment variables and `.env`, validated once, secrets never printed.

Precedence (pydantic-settings): process environment > `.env` > the defaults below. Every field has a
safe default and a line in `.env.example`; a key in `.env` that no field knows is a warning, not a crash,
so an old `.env` keeps working after a setting is renamed.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cqt.db import url as db_url

ENV_FILE = Path(".env")
# Where the data comes from: the real venues, or the local simulator. Each has its own database.
SOURCES = ("live", "sim")

# Values people leave in templates instead of a key. Compared case-insensitively against the whole value.
_PLACEHOLDER = re.compile(
    r"^(|change[-_ ]?me.*|replace[-_ ]?me.*|your[-_ ].*|<.*>|\$\{.*\}|x{3,}|\*{3,}|\.{3}|placeholder.*"
    r"|todo|none|null|dummy.*|example.*|test|secret|api[-_ ]?key|.*[-_ ]here)$",
    re.IGNORECASE,
)


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and the fix."""


class UnknownSettingWarning(UserWarning):
    """A key in `.env` that no setting reads (a typo or a setting that was renamed)."""


def is_placeholder(value: str | None) -> bool:
    """True when `value` is absent or a template placeholder rather than a real credential."""
    return value is None or bool(_PLACEHOLDER.match(value.strip()))


CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _venue_codes(value: list[str], pattern: str, expected: str) -> list[str]:
    codes = [v.upper() for v in value]
    bad = [c for c in codes if not re.fullmatch(pattern, c)]
    if bad:
        raise ValueError(f"expected {expected}, got {bad}")
    return codes


class Settings(BaseSettings):
    """All runtime settings of cqt. Field name = environment variable name (upper-cased)."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # --- database -------------------------------------------------------------------------------
    db_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded server (pgserver) is started under PG_DATA_DIR.",
    )
    pg_data_dir: Path = Field(default=Path("data/pg"), description="Data directory of the embedded server.")
    sim_db_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL for `--source sim`. Unset: an embedded server under SIM_PG_DATA_DIR."
        " DB_URL is never used for simulated data.",
    )
    sim_pg_data_dir: Path = Field(
        default=Path("data/sim/pg"), description="Data directory of the simulator's embedded server."
    )
    db_connect_timeout_s: int = Field(default=5, ge=1, le=120)

    # --- venues: base URLs, so collectors can target the live venues or the local simulator ---------
    upbit_ws_url: str = "wss://api.upbit.com/websocket/v1"
    upbit_rest_url: str = "https://api.upbit.com"
    binance_ws_market_url: str = "wss://fstream.binance.com/market"
    binance_ws_public_url: str = "wss://fstream.binance.com/public"
    binance_rest_url: str = "https://fapi.binance.com"
    coinglass_rest_url: str = "https://open-api-v4.coinglass.com"

    # --- what to collect --------------------------------------------------------------------------
    upbit_markets: CommaList = Field(default=["KRW-BTC"], min_length=1)
    binance_symbols: CommaList = Field(default=["BTCUSDT"], min_length=1)
    coinglass_enabled: bool = True
    coinglass_api_key: SecretStr = SecretStr("")
    coinglass_coin: str = "BTC"
    coinglass_pair: str = "BTCUSDT"
    coinglass_exchange: str = "Binance"
    coinglass_interval: str = Field(
        default="1h",
        pattern=r"^(1m|3m|5m|15m|30m|1h|4h|6h|8h|12h|1d|1w)$",
        description="Bucket size of the polled series; Hobbyist plans need >= 4h, Startup >= 30m.",
    )
    coinglass_poll_s: float = Field(default=60.0, ge=5.0, le=86_400.0)

    # --- the bot ----------------------------------------------------------------------------------
    spool_dir: Path = Field(
        default=Path("data/spool"), description="On-disk spool used while PostgreSQL is away."
    )
    metrics_port: int = Field(default=9108, ge=0, le=65_535, description="Prometheus /metrics on 127.0.0.1.")
    log_dir: Path = Field(default=Path("logs"), description="Where the bot writes its rotating bot.log.")

    # --- dashboard --------------------------------------------------------------------------------
    dashboard_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address `cqt dashboard` binds; 0.0.0.0 only inside a container or behind a proxy.",
    )
    dashboard_port: int = Field(default=8501, ge=1, le=65_535)
    dashboard_refresh_s: int = Field(
        default=10, ge=0, le=3_600, description="Seconds between auto-refreshes of a page; 0 = off."
    )
    dashboard_password: SecretStr = Field(
        default=SecretStr(""),
        description="Asked by the dashboard before any page; required to bind beyond loopback (secret).",
    )

    # --- checks (python -m cqt.checks.*, cqt check, scripts/run_pipeline_checks.sh) -------------------
    check_max_lag_s: float = Field(
        default=30.0, gt=0,
        description="Max age of the newest row of a pushed stream, on the event and the local clock; polled "
        "series may be older by their period plus their poll interval.",
    )  # fmt: skip
    check_min_fill: float = Field(
        default=0.9, ge=0, le=1, description="Min share of the expected seconds/periods that have data."
    )
    check_max_open_gaps: int = Field(default=0, ge=0, description="Max open gaps per stream in the window.")
    check_max_reconnects: int = Field(
        default=3, ge=0, description="Max WebSocket reconnects per stream in the window."
    )
    check_max_null_rate: float = Field(
        default=0.05, ge=0, le=1,
        description="Max share of null values per bar column and per prediction feature (after its warm-up).",
    )  # fmt: skip
    check_max_stale_share: float = Field(
        default=0.5, ge=0, le=1, description="Max share of stale bars (no trade in the second)."
    )
    check_max_gap_share: float = Field(
        default=0.05, ge=0, le=1, description="Max share of bars inside a known collection gap."
    )
    check_leak_sample: int = Field(
        default=50, ge=1, le=10_000, description="Predictions (and dataset rows) the leak check recomputes."
    )
    check_max_clock_skew_s: float = Field(
        default=5.0, ge=0,
        description="Leak check: how far a polled period end may lie after its recv_ts (clock skew).",
    )  # fmt: skip
    check_max_coinglass_fail_share: float = Field(
        default=0.1, ge=0, le=1, description="Max share of Coinglass calls in the window that are not ok."
    )

    # --- logging ----------------------------------------------------------------------------------
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")

    _split = field_validator("upbit_markets", "binance_symbols", mode="before")(_split_commas)

    @field_validator("upbit_markets")
    @classmethod
    def _upbit_codes(cls, value: list[str]) -> list[str]:
        return _venue_codes(value, r"KRW-[A-Z0-9]{1,15}", "Upbit KRW market codes like KRW-BTC")

    @field_validator("binance_symbols")
    @classmethod
    def _binance_symbols(cls, value: list[str]) -> list[str]:
        return _venue_codes(value, r"[A-Z0-9]{2,20}USDT", "Binance USD-M symbols like BTCUSDT")

    @field_validator("db_url", "sim_db_url", mode="after")
    @classmethod
    def _db_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            db_url.check(value.get_secret_value().strip())
        return value

    @field_validator("spool_dir", "log_dir", mode="after")
    @classmethod
    def _directory(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @field_validator("upbit_ws_url", "binance_ws_market_url", "binance_ws_public_url", mode="after")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", value):
            raise ValueError("expected a ws:// or wss:// URL")
        return value.rstrip("/")

    @field_validator("upbit_rest_url", "binance_rest_url", "coinglass_rest_url", mode="after")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    def for_source(self, source: str) -> Settings:
        """The settings of `source`: `sim` swaps in the simulator's own database and spool, so simulated
        rows never land where live rows are (their ids and prices would collide with, or pass for, live
        ones)."""
        if source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        if source == "live":
            return self
        return self.model_copy(
            update={
                "db_url": self.sim_db_url,
                "pg_data_dir": self.sim_pg_data_dir,
                "spool_dir": self.spool_dir.parent / f"{self.spool_dir.name}-sim",
            }
        )

    @property
    def coinglass_key_usable(self) -> bool:
        """A Coinglass key is present and is not a template placeholder."""
        return not is_placeholder(self.coinglass_api_key.get_secret_value())

    @property
    def dashboard_password_set(self) -> bool:
        """A dashboard password is present and is not a template placeholder."""
        return not is_placeholder(self.dashboard_password.get_secret_value())


def env_names() -> set[str]:
    """The environment-variable names that settings read."""
    return {name.upper() for name in Settings.model_fields}


def secret_names() -> list[str]:
    """Settings whose values are secrets: reported only as presence, length and placeholder status."""
    return [
        name.upper()
        for name, field in Settings.model_fields.items()
        if field.annotation in (SecretStr, SecretStr | None)
    ]


def unknown_keys(env_file: Path) -> list[str]:
    """Keys present in `env_file` that no setting reads."""
    if not env_file.is_file():
        return []
    known = env_names()
    return sorted(k for k in dotenv_values(env_file) if k.upper() not in known)


def load_settings(env_file: Path | None = ENV_FILE, **overrides: Any) -> Settings:
    """Load and validate settings; raise ConfigError with a readable message on a bad value."""
    if env_file is not None:
        for key in unknown_keys(env_file):
            warnings.warn(
                f"{env_file}: unknown setting {key} is ignored (typo, or a setting that was renamed?)",
                UnknownSettingWarning,
                stacklevel=2,
            )
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    secrets = set(secret_names())
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]).upper() if err["loc"] else "?"
        shown = "<secret>" if name in secrets else repr(err.get("input"))
        lines.append(f"invalid setting {name}={shown}: {err['msg']}")
    return "; ".join(lines) + " (set it in the environment or .env; see .env.example)"
