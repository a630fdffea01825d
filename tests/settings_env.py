"""The environment of a cqt subprocess without the developer's cqt settings: tests choose their own."""

from __future__ import annotations

import os
from pathlib import Path

from cqt.config import env_names

SETTING_NAMES = frozenset(env_names())


def clean_environ(**settings: str) -> dict[str, str]:
    """``os.environ`` without any cqt setting (names are case-insensitive), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    env.update(settings)
    return env


def bot_environ(tmp: Path, db: str, **settings: str) -> dict[str, str]:
    """A test bot's environment on ``db`` (for either source): one symbol per venue, spool and logs under ``tmp``, metrics on a
    free port."""
    return clean_environ(DB_URL=db, SIM_DB_URL=db, METRICS_PORT="0", SPOOL_DIR=str(tmp / "spool"), LOG_DIR=str(tmp / "logs"),
                         BINANCE_SYMBOLS="BTCUSDT", UPBIT_MARKETS="KRW-BTC", **settings)  # fmt: skip
