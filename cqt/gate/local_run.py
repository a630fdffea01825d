"""The local profile's own run: an embedded PostgreSQL under data/gate/pg with a fresh database, and the
bot against the simulator, started before the gate suite and stopped after it.

The suite runs while the bot runs (as a deployment gate would): static gates go first, and the first
runtime gate waits until the bot has run `run_s` seconds. Nothing of a user's ./data/pg, data/datasets
or logs/ is touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cqt.db import embedded
from cqt.gate.profiles import LOCAL, LOCAL_DIR, LOCAL_RUN_ENV
from cqt.sim import SIM_COINGLASS_KEY

DATABASE = "cqt_gate"
# The run the gates judge: the 120 s that stand in for 10 minutes, plus the bot's start-up, plus enough
# for the 1 h export to hold labelled rows (t0 needs ~40 s of returns before it for the dynamic r_t and
# the 120 s horizon after it).
RUN_S = 240.0
# A cap in case the gate process dies without stopping the bot.
MAX_RUN_S = 1_800


@dataclass(frozen=True)
class RunFile:
    """What the suite learns about the local bot (written by the runner, read by the suite)."""

    pid: int
    started_at: float
    run_s: float
    log: str

    def write(self, path: Path) -> None:
        """As JSON."""
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> RunFile:
        """From JSON."""
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def alive(self) -> bool:
        """The bot process still exists."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_tail(self, lines: int = 5) -> str:
        """The end of the bot's output, for failure messages."""
        try:
            text = Path(self.log).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no bot output: {exc})"
        return " | ".join(text.strip().splitlines()[-lines:])

    def wait_until_due(self) -> float:
        """Block until the bot has run `run_s` (or has exited); returns the seconds it has run."""
        while time.time() - self.started_at < self.run_s and self.alive():
            time.sleep(1.0)
        return time.time() - self.started_at


class LocalRun:
    """Start and stop the local profile's database and bot."""

    def __init__(self, root: Path, run_s: float = RUN_S) -> None:
        self.root = root
        self.dir = root / LOCAL_DIR
        self.run_s = run_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_server = False

    def database(self) -> str:
        """A fresh `cqt_gate` database on the embedded server under data/gate/pg."""
        pg_dir = self.dir / "pg"
        self.started_server = embedded.running_pid(pg_dir) is None
        uri = embedded.start(pg_dir)
        with psycopg.connect(uri, autocommit=True) as admin:
            name = sql.Identifier(DATABASE)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        return make_conninfo(uri, dbname=DATABASE)

    def env(self, conninfo: str) -> dict[str, str]:
        """Settings of the local run, for the bot and for every command the suite starts."""
        return {
            # The gate's own database holds only this simulated run: the bot (--source sim) and the
            # commands the suite starts (the live source by default) both read it.
            "DB_URL": conninfo,
            "SIM_DB_URL": conninfo,
            "LOG_DIR": str(self.dir / "logs"),
            "SPOOL_DIR": str(self.dir / "spool"),
            "METRICS_PORT": "0",
            "COINGLASS_ENABLED": "true",
            "COINGLASS_API_KEY": SIM_COINGLASS_KEY,
            "COINGLASS_POLL_S": "30",
        }

    def start(self) -> dict[str, str]:
        """Bring up the database and the bot; returns the environment for the suite."""
        env = self.env(self.database())
        log = self.dir / "logs" / "bot-output.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cqt.bot", "--source", "sim", "--duration", str(MAX_RUN_S)],
                cwd=self.root, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        # Reap the bot as soon as it exits: the runner is blocked in pytest meanwhile, and an unreaped
        # zombie would still look alive to RunFile.alive() in the test process.
        threading.Thread(target=self.proc.wait, name="gate-bot-reaper", daemon=True).start()
        run_file = self.dir / "local-run.json"
        RunFile(self.proc.pid, time.time(), self.run_s, str(log)).write(run_file)
        return {**env, LOCAL_RUN_ENV: str(run_file)}

    def count_down(self, every_s: float = 15.0) -> None:
        """Print, every `every_s`, how long until the runtime gates judge the run (the suite's own output is
        captured by pytest until it ends, so without this the terminal is silent for minutes)."""
        started = time.time()
        while self.proc is not None and self.proc.poll() is None:
            left = self.run_s - (time.time() - started)
            if left <= 0:
                print(f"gate: the bot has run {self.run_s:.0f} s; the runtime gates judge it now", flush=True)
                return
            print(f"gate: runtime gates judge the bot run in {left:.0f} s", flush=True)
            time.sleep(min(every_s, left))
        if self.proc is not None:
            print(f"gate: the local bot exited early ({self.proc.returncode}); see its log", flush=True)

    def stop(self) -> str:
        """SIGTERM the bot (it flushes and closes its run row), stop a server this run started."""
        said = "local bot not started"
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            said = f"local bot (pid {self.proc.pid}) exited {self.proc.returncode}"
        if self.started_server:
            embedded.stop(self.dir / "pg")
            said += f"; stopped the embedded server under {self.dir / 'pg'}"
        return said


def local_profile_note() -> str:
    """How the local profile's durations relate to the real ones (for the CLI's help)."""
    return f"{LOCAL.continuous_s} s stands in for 10 min; the bot runs {RUN_S:.0f} s before the runtime gates"
