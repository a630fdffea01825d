"""ALT-6 item 3: the scan finds SQL assembled from values and leaves parameterised SQL alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqt.gate.sql_scan import scan_source
from cqt.gate.static import sql_interpolation
from cqt.gate.verdict import GateFailure

BUILT = {
    "an f-string": "conn.execute(f\"SELECT * FROM trades WHERE symbol = '{symbol}'\")",
    "%-formatting": 'q = "DELETE FROM gaps WHERE id = %d" % gap_id',
    "str.format()": 'q = "UPDATE bot_runs SET stop_cause = {} WHERE run_id = 1".format(cause)',
    "+ concatenation": 'q = "SELECT ts FROM market_1s WHERE ts > now() - INTERVAL \'" + secs + " seconds\'"',
}


@pytest.mark.parametrize("how", BUILT)
def test_each_way_of_building_sql_from_values_is_found(how: str) -> None:
    found = scan_source(BUILT[how] + "\n", Path("planted.py"))
    assert [(f.line, f.how) for f in found] == [(1, how)]


def test_a_session_setting_built_from_a_value_is_found() -> None:
    found = scan_source('conn.execute(f"SET statement_timeout = {timeout_ms}")\n', Path("planted.py"))
    assert [(f.line, f.how) for f in found] == [(1, "an f-string")]
    assert scan_source('conn.execute("SET default_transaction_read_only = on")\n', Path("clean.py")) == []


def test_parameters_identifiers_and_constants_are_not_findings() -> None:
    source = """
from psycopg import sql
TABLE_COLUMNS = "ts, recv_ts"
QUERY = "SELECT " + TABLE_COLUMNS + " FROM trades"
conn.execute("SELECT 1 FROM coinglass_call_status WHERE ts > now() - make_interval(secs => %s)", (600,))
conn.execute(QUERY + " WHERE symbol = %s", ("BTCUSDT",))
conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
log.info(f"select a symbol from the list: {symbols}")
"""
    assert scan_source(source, Path("clean.py")) == []


def test_the_gate_fails_on_a_planted_module_and_names_it(tmp_path: Path) -> None:
    pkg = tmp_path / "cqt"
    pkg.mkdir()
    (pkg / "ok.py").write_text('Q = "SELECT 1"\n')
    (pkg / "leaky.py").write_text(
        'def f(conn, s):\n    conn.execute(f"SELECT * FROM trades WHERE symbol = {s}")\n'
    )
    with pytest.raises(GateFailure, match=r"1 SQL string\(s\).*cqt/leaky.py:2: SQL built by an f-string"):
        sql_interpolation(tmp_path)
    (pkg / "leaky.py").unlink()
    assert sql_interpolation(tmp_path).startswith("1 modules of cqt/ scanned")
