"""Migrations against a real PostgreSQL: from empty, idempotent, atomic, append-only."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from cqt.config import load_settings
from cqt.db.connect import connect
from cqt.db.migrate import PACKAGED, MigrationError, current_version, discover, migrate

# The tables the later parts of the system rely on (issue: schema v1).
V1_TABLES = {
    "trades",
    "quotes",
    "market_1s",
    "mark_price",
    "liquidations",
    "metrics",
    "coinglass_call_status",
    "gaps",
    "predictions",
    "bot_runs",
    "schema_migrations",
}


def _schema(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return conn.execute(
        """SELECT table_name, column_name, data_type, is_nullable
           FROM information_schema.columns WHERE table_schema = 'public'
           ORDER BY table_name, ordinal_position"""
    ).fetchall()


def test_migrations_apply_from_empty_and_are_recorded(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert current_version(conn) == 0
        applied = migrate(conn)
        assert [m.version for m in applied] == [m.version for m in discover()]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
                " AND table_type='BASE TABLE'"
            )
        }
        assert V1_TABLES <= tables
        recorded = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version").fetchall()
        assert recorded == [(m.version, m.checksum) for m in discover()]


def test_rerun_is_a_noop(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        before = _schema(conn)
        stamps = conn.execute("SELECT applied_at FROM schema_migrations").fetchall()
        assert migrate(conn) == []
        assert _schema(conn) == before
        assert conn.execute("SELECT applied_at FROM schema_migrations").fetchall() == stamps


def test_failed_migration_leaves_schema_unchanged(fresh_db: str, tmp_path: Path) -> None:
    for mig in PACKAGED.glob("*.sql"):
        shutil.copy(mig, tmp_path / mig.name)
    latest = discover()[-1].version
    broken = tmp_path / f"{latest + 1:04d}_broken.sql"
    broken.write_text(
        "CREATE TABLE half_done (x int);\nALTER TABLE trades ADD COLUMN oops int;\nSELECT 1/0;\n"
    )
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        before = _schema(conn)
        with pytest.raises(MigrationError, match="broken failed and was rolled back"):
            migrate(conn, tmp_path)
        assert _schema(conn) == before
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        assert current_version(conn) == latest


def test_edited_migration_is_refused(fresh_db: str, tmp_path: Path) -> None:
    for mig in PACKAGED.glob("*.sql"):
        shutil.copy(mig, tmp_path / mig.name)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        first = sorted(tmp_path.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn, tmp_path)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "2_no_padding.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_description"):
        discover(tmp_path)


def test_connections_are_utc_even_when_the_database_default_is_not(
    fresh_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        dbname = admin.info.dbname
        admin.execute(f"ALTER DATABASE \"{dbname}\" SET timezone = 'Asia/Seoul'")
    with psycopg.connect(fresh_db) as plain:
        assert plain.execute("SHOW TimeZone").fetchone() == ("Asia/Seoul",)
    monkeypatch.setenv("DB_URL", fresh_db)
    with connect(load_settings(None)) as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
        row = conn.execute("SELECT '2026-01-01 00:00:00+00'::timestamptz::text").fetchone()
        assert row == ("2026-01-01 00:00:00+00",)


def test_natural_keys_make_writes_idempotent(fresh_db: str) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        insert = (
            "INSERT INTO trades (exchange, symbol, trade_id, ts, recv_ts, price, qty, side)"
            " VALUES ('binance', 'BTCUSDT', 42, %s, %s, 85000.1, 0.004, 1) ON CONFLICT DO NOTHING"
        )
        conn.execute(insert, (now, now))
        conn.execute(insert, (now, now))
        assert conn.execute("SELECT count(*) FROM trades").fetchone() == (1,)
        metric = (
            "INSERT INTO metrics (source, symbol, metric, ts, recv_ts, period_s, value)"
            " VALUES ('binance', 'BTCUSDT', 'open_interest', %s, %s, 300, 1.5) ON CONFLICT DO NOTHING"
        )
        conn.execute(metric, (now, now))
        conn.execute(metric, (now, now))
        assert conn.execute("SELECT count(*) FROM futures_metrics").fetchone() == (1,)


def test_schema_refuses_a_label_before_the_horizon(fresh_db: str) -> None:
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO predictions (symbol, ts, model, horizon_s, r_t, p_up, p_down, p_none, label_ts)"
                " VALUES ('BTCUSDT', %s, 'baseline', 120, 0.002, 0.3, 0.3, 0.4, %s + interval '119 seconds')",
                (t0, t0),
            )
