"""Export and label study of data stored by a real bot run against the simulator (one run shared by the
module): every feature equals its point-in-time recomputation, labels equal the Python reference, the
stored predictions join, and the commands print the ALT-5 summary and the study table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from cqt.collect.rows import dt_to_ms
from cqt.export.columns import known
from tests.conftest import REPO_ROOT
from tests.export.conftest import SIM_HORIZON
from tests.export.labels_ref import reference_by_ts, same, stored_bars
from tests.export.recompute import contract, mismatches
from tests.kernels.kernel_reference import LabelSpec
from tests.settings_env import bot_environ

R = 0.0002
SCRIPT = str(REPO_ROOT / "scripts" / "export_dataset.py")


def test_export_of_a_simulator_run(sim_db: str, tmp_path: Path) -> None:
    out = tmp_path / "datasets" / "btc_1h.parquet"
    done = subprocess.run(
        [sys.executable, SCRIPT, "--output", str(out), "--horizon", str(SIM_HORIZON), "--last", "1h",
         "--every", "1s", "--r-policy", f"fixed:{R}", "--source", "sim"],
        cwd=tmp_path, env=bot_environ(tmp_path, sim_db), text=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = contract(out)
    table = pq.read_table(out)
    rows = table.to_pylist()
    assert meta["rows"] == len(rows) > 30
    for needle in (f"rows           {len(rows)}", "label_ts violations dropped  0 (on the written file: 0)",
                   "UP ", "DOWN ", "NONE ", "realised vol   sigma_1s", "KiB"):  # fmt: skip
        assert needle in done.stdout, done.stdout
    assert meta["dropped"]["end_of_data"] >= SIM_HORIZON - 1  # the last H seconds have no complete horizon
    assert meta["params"] | {"start": None, "end": None} == {
        "symbol": "BTCUSDT", "horizon_s": SIM_HORIZON, "label": "triple", "r_policy": f"fixed:{R}",
        "every_s": 1, "start": None, "end": None, "model": "baseline-v1",
    }  # fmt: skip
    columns = [f["column"] for f in meta["features"]]
    assert any(c.startswith("bm_") for c in columns) and any(c.startswith("cg_") for c in columns)
    # every column the collectors' data gives has its own dictionary entry, not the unknown-metric one
    assert sorted(meta["columns"]) == sorted(table.column_names)
    assert [c for c in table.column_names if not known(c)] == []
    assert meta["source"] == "sim" and len(meta["bot_runs"]) == 1
    assert meta["quality"]["null_share"]["bn_close"] < 0.1 and meta["quality"]["null_share"]["ub_close"] < 0.1

    # the leak check's rule, re-run per row in SQL, on every row and feature
    assert mismatches(sim_db, out) == []

    # labels: the pure-Python reference on the same stored bars
    ref = reference_by_ts(
        stored_bars(sim_db), LabelSpec(horizon_s=SIM_HORIZON, kind="triple_barrier", r_fixed=R)
    )
    for row in rows:
        want = ref[dt_to_ms(row["t0"])]
        assert want["valid"] and row["y"] == want["y"] and row["ambiguous"] == want["ambiguous"]
        assert same(row["fwd_return"], float(want["fwd_return"])) and row["r_t"] == R
        assert (dt_to_ms(row["touch_ts"]) if row["touch_ts"] else -1) == want["touch_ts"]
    assert [dt_to_ms(r["t0"]) for r in rows] == sorted(t for t, v in ref.items() if v["valid"])

    # the bot's predictions (every 5 s, horizon H) are joined on their t0
    with psycopg.connect(sim_db) as conn:
        stored = {dt_to_ms(ts): (p, c) for ts, p, c in conn.execute(
            "SELECT ts, p_up, created_at FROM predictions WHERE horizon_s = %s", (SIM_HORIZON,)
        )}  # fmt: skip
    joined = {
        dt_to_ms(r["t0"]): (r["pred_p_up"], r["pred_created_at"]) for r in rows if r["pred_p_up"] is not None
    }
    assert joined and joined == {t: v for t, v in stored.items() if t in {dt_to_ms(r["t0"]) for r in rows}}


def test_label_study_explains_an_all_none_result(sim_db: str, tmp_path: Path) -> None:
    png = tmp_path / "study.png"
    done = subprocess.run(
        [sys.executable, "-m", "cqt", "labels", "study", "--last", "1h", "--horizon", str(SIM_HORIZON),
         "--every", "1s", "--fixed", "0.00001,0.5", "--png", str(png)],
        cwd=tmp_path, env=bot_environ(tmp_path, sim_db), text=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    table = {line.split()[0]: line.split() for line in lines if line.startswith(("fixed:", "dynamic"))}
    assert set(table) == {"fixed:1e-05", "fixed:0.5", "dynamic"}
    tiny, huge = table["fixed:1e-05"], table["fixed:0.5"]
    assert int(tiny[2]) + int(tiny[3]) > 0  # a tiny r_t labels moves
    assert int(huge[2]) == int(huge[3]) == 0 and int(huge[4]) > 0  # r_t = 50 %: everything NONE
    explanation = [line for line in lines if line.startswith("all NONE under fixed:0.5:")]
    assert explanation and "Not an error" in explanation[0] and "typical move over H" in explanation[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
