"""One gate session's shared state: the profile, the settings, the database and evidence that several
scenarios use (the check runs per window, the exports), each produced once and reused."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cqt.config import Settings
from cqt.gate import evidence, exports, pipeline, runtime
from cqt.gate.commands import EXPORT
from cqt.gate.evidence import RunSpan
from cqt.gate.exports import ExportFile
from cqt.gate.local_run import RunFile
from cqt.gate.pipeline import PipelineRun
from cqt.gate.profiles import Profile

T = TypeVar("T")
HORIZON_S = 120
REPORTS_ENV = "CQT_GATE_REPORTS"


class _Raised:
    """What `make()` raised, kept so every caller sees the same outcome."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


class GateSession:
    """Evidence of one `cqt gate` run, shared by its scenarios."""

    def __init__(
        self, root: Path, profile: Profile, settings: Settings, local: RunFile | None, out_dir: Path
    ) -> None:
        self.root = root
        self.profile = profile
        self.settings = settings
        self.local = local
        self.out_dir = out_dir
        self._cache: dict[str, object] = {}

    def _once(self, key: str, make: Callable[[], T]) -> T:
        """`make()` once; a raised gate outcome (Pending, GateFailure) is replayed to every later caller."""
        if key not in self._cache:
            try:
                self._cache[key] = make()
            except Exception as exc:
                self._cache[key] = _Raised(exc)
        value = self._cache[key]
        if isinstance(value, _Raised):
            raise value.exc
        return value  # type: ignore[return-value]

    def database(self) -> tuple[str, str]:
        """(conninfo, DB_CONNECT_OK evidence); under the local profile, after the bot has run long enough."""

        def connect() -> tuple[str, str]:
            if self.local is not None:
                self.local.wait_until_due()
            return runtime.database(self.settings)

        return self._once("database", connect)

    @property
    def conninfo(self) -> str:
        """The database's conninfo (Pending when it does not answer)."""
        return self.database()[0]

    def runs(self) -> list[RunSpan]:
        """The profile's bot runs, read now (they grow while the bot runs)."""
        return evidence.bot_runs(self.conninfo, self.profile.bot_source)

    def bot_hint(self) -> str:
        """Under the local profile, the end of the bot's output (why a run may be missing)."""
        if self.local is None:
            return ""
        state = "running" if self.local.alive() else "exited"
        return f"local bot pid {self.local.pid} {state}; output: {self.local.log_tail()}"

    def pipeline(self, window_s: int) -> PipelineRun:
        """The pipeline checks over the last `window_s` seconds (run once per window)."""
        return self._once(f"pipeline:{window_s}", lambda: pipeline.run_pipeline(self.root, window_s))

    def export(self, name: str, last: str) -> ExportFile:
        """Export `name` over `--last last` into the profile's dataset directory and read it back."""

        def make() -> ExportFile:
            output = self.profile.dataset_dir / name
            (self.root / output).parent.mkdir(parents=True, exist_ok=True)
            started = time.time()
            missing = EXPORT.missing(self.root)
            done = missing or exports.export(self.root, output, HORIZON_S, last, self.profile.bot_source)
            return exports.judge_export(self.root, done, output, started)

        return self._once(f"export:{name}", make)

    def log_dir(self) -> Path:
        """Where the judged bot writes bot.log."""
        return self.root / (self.profile.log_dir or self.settings.log_dir)
