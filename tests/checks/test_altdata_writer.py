"""altdata's storage-writer measurements: a writer that holds rows but inserts none, a failing spool and a
missing writer snapshot each FAIL on the measurement that names them; a healthy writer passes."""

from __future__ import annotations

from tests.checks.conftest import Evidence, failed, measurement, run_check


def test_a_writing_writer_passes_with_its_rows(healthy: Evidence) -> None:
    result = run_check(healthy.db, "altdata")
    written = measurement(result, "storage writer rows_inserted")
    assert written.ok and written.value is not None and written.value >= 500  # 10 rows/s over 60 s
    assert measurement(result, "storage writer spool_failing").value == 0


def test_rows_queued_but_none_inserted_fails(healthy: Evidence) -> None:
    # the counter stopped 100 s ago while rows pile up in memory
    healthy.execute(
        "UPDATE writer_status SET rows_inserted = 1000, backlog_rows = 5000"
        " WHERE ts > now() - interval '100 seconds'"
    )
    result = run_check(healthy.db, "altdata")
    assert failed(result) == {"storage writer rows_inserted"}
    written = measurement(result, "storage writer rows_inserted")
    assert written.value == 0 and written.threshold == 1
    assert "5000 rows in memory" in written.detail


def test_an_idle_writer_with_nothing_queued_passes(healthy: Evidence) -> None:
    healthy.execute("UPDATE writer_status SET rows_inserted = 1000")
    written = measurement(run_check(healthy.db, "altdata"), "storage writer rows_inserted")
    assert written.ok and written.value == 0 and written.threshold is None


def test_a_failing_spool_fails_with_its_error(healthy: Evidence) -> None:
    healthy.execute(
        "UPDATE writer_status SET spool_failing = true, last_error = '[Errno 28] No space left on device'"
        " WHERE ts > now() - interval '20 seconds'"
    )
    result = run_check(healthy.db, "altdata")
    assert failed(result) == {"storage writer spool_failing"}
    spool = measurement(result, "storage writer spool_failing")
    assert spool.value is not None and spool.value >= 3
    assert "No space left on device" in spool.detail


def test_no_writer_snapshot_fails(healthy: Evidence) -> None:
    healthy.execute("DELETE FROM writer_status")
    result = run_check(healthy.db, "altdata")
    spool = measurement(result, "storage writer spool_failing")
    assert spool.value is None and not spool.ok and "no writer_status snapshot" in spool.detail
    assert not measurement(result, "storage writer rows_inserted").ok
