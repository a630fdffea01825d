"""The runtime gates judge planted evidence in a real database: each can PASS, FAIL and be PENDING."""

from __future__ import annotations

import psycopg
import pytest
from pydantic import SecretStr

from cqt.config import Settings
from cqt.gate import evidence, runtime
from cqt.gate.profiles import DAY_S, DEPLOYMENT, LOCAL
from cqt.gate.verdict import GateFailure, Pending
from tests.gate.conftest import plant_calls, plant_run

REAL_KEY = SecretStr("3f9a1c0e7b2d4a6f8e1c3b5d7f9a0c2e")


def settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_a_run_cut_at_3_minutes_keeps_the_10_minute_gate_from_passing(db: str) -> None:
    plant_run(db, started_s_ago=190, stopped_s_ago=10, cause="signal")
    runs = evidence.bot_runs(db, "live")
    with pytest.raises(Pending) as pending:
        runtime.continuous_run(runs, DEPLOYMENT.continuous_s, DEPLOYMENT)
    assert pending.value.precondition == "bot run time"
    assert pending.value.reason.startswith(
        "only 180 s of the required 600 s (10.0 min) of continuous bot run time"
    )
    assert "stop cause signal" in pending.value.reason


def test_ten_minutes_pass_and_a_heartbeat_gap_breaks_continuity(db: str) -> None:
    plant_run(db, started_s_ago=700)
    ok = runtime.continuous_run(evidence.bot_runs(db, "live"), 600, DEPLOYMENT)
    assert ok.startswith("run 1 started") and "700 s continuous of 700 s, still running" in ok

    gapped = plant_run(db, started_s_ago=2000, stopped_s_ago=1000, cause="crash", gap=(400.0, 500.0))
    span = next(r for r in evidence.bot_runs(db, "live") if r.run_id == gapped)
    assert span.span_s == pytest.approx(1000, abs=1)
    assert span.pieces == 2
    assert span.continuous_s == pytest.approx(500, abs=1)  # beats 0..400 s and 500..1000 s after the start


def test_no_run_is_pending_in_a_deployment_and_a_failure_of_the_local_run(db: str) -> None:
    plant_run(db, source="sim", started_s_ago=900)  # a sim run does not count for a deployment
    with pytest.raises(Pending, match=r"PENDING\[bot run\] no live bot run recorded in bot_runs"):
        runtime.continuous_run(evidence.bot_runs(db, "live"), 600, DEPLOYMENT)
    with pytest.raises(GateFailure, match="bot_runs has no sim run: bot exited 2"):
        runtime.continuous_run([], 120, LOCAL, "bot exited 2")


def test_24_hours_in_the_local_profile_is_pending_with_the_run_time_seen(db: str) -> None:
    plant_run(db, source="sim", started_s_ago=150)
    assert "150 s continuous" in runtime.continuous_run(
        evidence.bot_runs(db, "sim"), LOCAL.continuous_s, LOCAL
    )
    with pytest.raises(Pending) as pending:
        runtime.continuous_run(evidence.bot_runs(db, "sim"), DAY_S, LOCAL)
    assert pending.value.reason.startswith("only 150 s of the required 86400 s (24.0 h)")
    assert pending.value.reason.endswith(LOCAL.note())


def test_a_local_run_that_died_early_fails_the_local_10_minute_gate(db: str) -> None:
    plant_run(db, source="sim", started_s_ago=100, stopped_s_ago=70, cause="crash")
    with pytest.raises(
        GateFailure, match=r"the local bot run lasted only 30 s of the 120 s .*stop cause crash.*; bot said"
    ):
        runtime.continuous_run(evidence.bot_runs(db, "sim"), LOCAL.continuous_s, LOCAL, "bot said: boom")


def test_window_evidence_needs_a_bot_running_for_the_whole_window(db: str) -> None:
    plant_run(db, started_s_ago=3000, stopped_s_ago=2000, cause="duration")
    with pytest.raises(
        Pending, match=r"PENDING\[running bot\] no live bot has been running for the last 600 s \(10.0 min\)"
    ):
        runtime.running_for(evidence.bot_runs(db, "live"), 600, DEPLOYMENT)
    running = plant_run(db, started_s_ago=650)
    assert runtime.running_for(evidence.bot_runs(db, "live"), 600, DEPLOYMENT).run_id == running


def test_coinglass_collection_fails_without_an_ok_call_and_passes_with_one(db: str) -> None:
    plant_run(db, started_s_ago=700)
    run = evidence.bot_runs(db, "live")[0]
    keyed = settings(coinglass_api_key=REAL_KEY)
    plant_calls(db, ok=0, failed=3)
    calls = evidence.coinglass_calls(db, 600)
    with pytest.raises(
        GateFailure,
        match=r"no ok Coinglass call .*0 ok of 3 calls; failures: /api/futures/oi: HTTP 200 code 401 bad key x3",
    ):
        runtime.coinglass_collection(keyed, run, calls, 600, DEPLOYMENT)
    plant_calls(db, ok=2, failed=0, s_ago=5)
    passed = runtime.coinglass_collection(keyed, run, evidence.coinglass_calls(db, 600), 600, DEPLOYMENT)
    assert passed.startswith("coinglass_call_status over the last 600 s (10.0 min): 2 ok of 5 calls")
    with pytest.raises(Pending, match="real Coinglass key"):
        runtime.coinglass_collection(settings(), run, calls, 600, DEPLOYMENT)


def test_coinglass_settings_print_length_and_placeholder_never_the_value() -> None:
    with pytest.raises(Pending) as placeholder:
        runtime.coinglass_settings(settings(coinglass_api_key=SecretStr("your-key-here")), DEPLOYMENT)
    assert placeholder.value.precondition == "real Coinglass key"
    assert "COINGLASS_API_KEY present, length 13, placeholder yes" in placeholder.value.reason
    assert "your-key-here" not in placeholder.value.reason
    with pytest.raises(GateFailure, match="COINGLASS_ENABLED=false"):
        runtime.coinglass_settings(settings(coinglass_enabled=False, coinglass_api_key=REAL_KEY), DEPLOYMENT)
    ok = runtime.coinglass_settings(settings(coinglass_api_key=REAL_KEY), DEPLOYMENT)
    assert ok == "COINGLASS_ENABLED=true; COINGLASS_API_KEY present, length 32, placeholder no"
    assert REAL_KEY.get_secret_value() not in ok
    with pytest.raises(Pending, match="simulator with its built-in key"):
        runtime.coinglass_settings(settings(coinglass_api_key=REAL_KEY), LOCAL)


def test_an_unreachable_database_is_pending_with_the_cause_and_the_fix() -> None:
    nowhere = settings(db_url=SecretStr("postgresql://gate:secret@127.0.0.1:1/none"), db_connect_timeout_s=1)
    with pytest.raises(Pending) as pending:
        runtime.database(nowhere)
    assert pending.value.precondition == "database"
    assert pending.value.reason.startswith("database unreachable: ")
    assert "tried postgresql://gate:***@127.0.0.1:1/none" in pending.value.reason
    assert "secret" not in pending.value.reason and "`cqt db check`" in pending.value.reason


def test_operations_record_names_the_run_and_the_top_messages(db: str) -> None:
    run_id = plant_run(db, started_s_ago=400, stopped_s_ago=100, cause="crash")
    with psycopg.connect(db, autocommit=True) as conn:
        for detail in ["Traceback...\nValueError: bad frame"] * 3 + ["Traceback...\nOSError: reset"]:
            conn.execute(
                "INSERT INTO bot_events (run_id, component, kind, detail) VALUES (%s, 'binance-ws', 'crash', %s)",
                (run_id, detail),
            )
    events = evidence.top_event_messages(db, run_id)
    assert events == [("crash binance-ws: ValueError: bad frame", 3), ("crash binance-ws: OSError: reset", 1)]
    record = runtime.operations_record(
        evidence.bot_runs(db, "live"), events, [("WARNING cqt.bot: lag # s", 7)], DEPLOYMENT
    )
    assert f"run {run_id}: start " in record and "continuous 300 s; stop cause crash" in record
    assert (
        "top error/warning messages: 7x WARNING cqt.bot: lag # s; 3x crash binance-ws: ValueError: bad frame"
        in record
    )
