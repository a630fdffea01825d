"""`cqt gate --source sim`: the deployment profile judges the simulator's database and counts its sim runs."""

from __future__ import annotations

from pathlib import Path

from cqt.config import load_settings
from cqt.gate.profiles import DEPLOYMENT, LOCAL, PROFILE_ENV, SOURCE_ENV, from_env
from cqt.gate.runner import source_env


def test_deployment_on_the_simulator_counts_sim_runs() -> None:
    assert from_env({PROFILE_ENV: "deployment"}).bot_source == "live"
    sim = from_env({PROFILE_ENV: "deployment", SOURCE_ENV: "sim"})
    assert (sim.bot_source, sim.continuous_s) == ("sim", DEPLOYMENT.continuous_s)
    assert from_env({PROFILE_ENV: "local", SOURCE_ENV: "sim"}) == LOCAL


def test_the_suite_is_handed_the_simulators_database_as_its_own() -> None:
    live_url, sim_url = "postgresql://cqt@127.0.0.1:1/live", "postgresql://cqt@127.0.0.1:2/sim"
    settings = load_settings(env_file=None, db_url=live_url, sim_db_url=sim_url)
    assert source_env(settings.for_source("sim")) == {"DB_URL": sim_url, "PG_DATA_DIR": "data/sim/pg"}
    embedded = load_settings(env_file=None, db_url=live_url, sim_pg_data_dir=Path("/srv/sim"))
    assert source_env(embedded.for_source("sim")) == {"DB_URL": "", "PG_DATA_DIR": "/srv/sim"}
