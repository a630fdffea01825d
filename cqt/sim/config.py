"""Simulator settings: one frozen dataclass shared by the server, the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field

# A fixed, well-known key so tests, the bot demo and `cqt sim` agree without any secret handling.
SIM_COINGLASS_KEY = "cqt-sim-5f3a9c1e7b2d4086a1c3e5f7"

# Per-minute request ceilings by plan (coinglass-api-skills, 2026-03) and the shortest interval each plan
# may ask history for (Hobbyist >= 4h, Startup >= 30m, Standard and up: any).
COINGLASS_PLAN_LIMITS: dict[str, int] = {"HOBBYIST": 30, "STARTUP": 80, "STANDARD": 300, "PROFESSIONAL": 1200}
COINGLASS_PLAN_MIN_INTERVAL_MS: dict[str, int] = {
    "HOBBYIST": 4 * 3_600_000,
    "STARTUP": 30 * 60_000,
    "STANDARD": 60_000,
    "PROFESSIONAL": 60_000,
}


def _default_coinglass_keys() -> dict[str, str]:
    return {SIM_COINGLASS_KEY: "STANDARD"}


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes one simulator run.

    `rate` is the target number of market-data messages per second summed over all venues and streams
    a client could subscribe to (trades, quotes, tickers, order books); the model scales its trade and quote
    intensities so that the long-run average matches it.
    """

    seed: int = 7
    rate: float = 300.0
    binance_symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    upbit_symbols: tuple[str, ...] = ("KRW-BTC", "KRW-ETH")
    host: str = "127.0.0.1"
    upbit_port: int = 0
    binance_port: int = 0
    coinglass_port: int = 0
    binance_lifetime_s: float = 24 * 3600.0
    binance_ping_interval_s: float = 180.0
    binance_pong_timeout_s: float = 600.0
    binance_max_client_msgs_per_s: int = 10
    binance_weight_limit: int = 2400
    binance_ban_s: float = 120.0
    binance_429s_before_ban: int = 3
    upbit_idle_timeout_s: float = 120.0
    upbit_rest_per_s: int = 10
    coinglass_keys: dict[str, str] = field(default_factory=_default_coinglass_keys)
    coinglass_rate_limit: int | None = None  # None: the plan's documented per-minute limit
    liquidation_rate: float = 1.0  # multiplier on liquidation intensity (tests raise it to see some quickly)
    ledger_retention_s: float | None = 6 * 3600.0  # history kept for REST backfill and checks; None = all
    tick_ms: int = 20
    max_client_backlog_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        for key, plan in self.coinglass_keys.items():
            if plan not in COINGLASS_PLAN_LIMITS:
                raise ValueError(f"unknown Coinglass plan {plan!r} for key of length {len(key)}")
        for sym in self.upbit_symbols:
            if not sym.startswith("KRW-"):
                raise ValueError(f"only KRW markets are simulated on Upbit, got {sym!r}")
