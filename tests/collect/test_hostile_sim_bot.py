"""The bot as a process against a simulator that keeps sending the hostile frames real venues have sent
(`malformed` fault: microsecond and year-10000 times, deep nesting, ids >= 2^63, non-finite and impossible
prices, crossed and padded books, all-market names, unsubscribed symbols, `T: 0`): the bot stays up, stores
no row that breaks the wire rule, and loses no trade the simulator sent (its ledger is the reference)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
from psycopg import sql

from cqt.sim import SIM_COINGLASS_KEY, SimConfig, SimServer
from tests.bot.test_bot import METRICS_URL, start_bot, wait_for_log
from tests.ledger_check import sent_trade_ids
from tests.settings_env import bot_environ

# Each query counts stored rows that break the rule; NaN sorts above 'Infinity' in PostgreSQL, so
# `x < 'Infinity'` excludes both. Times must lie in 2009 .. now + 1 day (period ends: + the period).
FINITE_POSITIVE = "({0} > 0 AND {0} < 'Infinity')"
PLAUSIBLE = "({0} >= '2009-01-01' AND {0} <= now() + interval '1 day')"
INVALID = {
    "trades": "NOT ({} AND {} AND {} AND trade_id >= 0)".format(
        FINITE_POSITIVE.format("price"), FINITE_POSITIVE.format("qty"), PLAUSIBLE.format("ts")
    ),
    "quotes": "NOT ({} AND {} AND {} AND {} AND {} AND bid_price < ask_price AND seq >= 0)".format(
        *(FINITE_POSITIVE.format(c) for c in ("bid_price", "bid_qty", "ask_price", "ask_qty")),
        PLAUSIBLE.format("ts"),
    ),
    "mark_price": "NOT ({} AND {} AND coalesce({}, true) AND coalesce(funding_rate > '-Infinity'"
    " AND funding_rate < 'Infinity', true) AND coalesce({}, true))".format(
        FINITE_POSITIVE.format("mark_price"),
        PLAUSIBLE.format("ts"),
        FINITE_POSITIVE.format("index_price"),
        PLAUSIBLE.format("next_funding_ts"),
    ),
    "liquidations": "NOT ({} AND {} AND {} AND {})".format(
        *(FINITE_POSITIVE.format(c) for c in ("price", "avg_price", "qty")), PLAUSIBLE.format("ts")
    ),
    "metrics": "NOT (value > '-Infinity' AND value < 'Infinity' AND ts >= '2009-01-01'"
    " AND ts <= now() + interval '1 day' + coalesce(period_s, 0) * interval '1 second')",
}


def test_bot_survives_hostile_frames_and_loses_no_trade(db: str, tmp_path: Path) -> None:
    cfg = SimConfig(seed=9, binance_symbols=("BTCUSDT",), upbit_symbols=("KRW-BTC",), liquidation_rate=20.0)
    with SimServer.in_thread(cfg) as sim:
        env = bot_environ(tmp_path, db, COINGLASS_API_KEY=SIM_COINGLASS_KEY, **sim.urls.as_env())
        bot = start_bot(tmp_path, env, "--source", "live")
        try:
            wait_for_log(tmp_path / "logs" / "bot.log", METRICS_URL)
            for _ in range(16):  # every hostile case several times on both venues
                sim.faults.malformed(count=8)
                time.sleep(0.5)
            time.sleep(2)
            bot.send_signal(signal.SIGTERM)
            _, err = bot.communicate(timeout=60)
        finally:
            if bot.poll() is None:
                bot.kill()
        sent = sent_trade_ids(sim)
        applied = sim.ledger.faults_applied["malformed"]
    assert bot.returncode == 0, err[-3000:]
    assert applied >= 100
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT stop_cause FROM bot_runs").fetchall() == [("signal",)]
        crashes = conn.execute("SELECT component, kind FROM bot_events WHERE kind = 'crash'").fetchall()
        assert crashes == []  # no task fell over on a frame
        for table, invalid in INVALID.items():
            query = sql.SQL("SELECT count(*), count(*) FILTER (WHERE {}) FROM {}")
            found = conn.execute(query.format(sql.SQL(invalid), sql.Identifier(table))).fetchone()
            assert found is not None and found[1] == 0, (table, found)
            assert found[0] > 0 or table == "liquidations", (table, found)
        for exchange, ids in sent.items():
            stored = [
                r[0]
                for r in conn.execute(
                    "SELECT trade_id FROM trades WHERE exchange = %s ORDER BY trade_id", (exchange,)
                )
            ]
            assert len(stored) > 50
            assert stored == [i for i in ids if stored[0] <= i <= stored[-1]], exchange
        malformed: dict[str, int] = dict(
            conn.execute("SELECT exchange, max(malformed) FROM stream_status GROUP BY exchange").fetchall()
        )
        assert malformed.get("binance", 0) > 0 and malformed.get("upbit", 0) > 0, malformed
