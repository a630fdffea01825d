"""Gate profiles: which durations the gates demand and which bot runs count.

`deployment` judges recorded evidence against the real ALT durations (10 min, 1 h, 24 h) and counts only
`live` bot runs. `local` judges the short simulator run `cqt gate --profile local` starts itself: 120 s
stands in for the 10 minutes, the 1 h and 24 h items stay PENDING with the run time seen, and every
message says that it is a local judgement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

DAY_S = 86_400
HOUR_S = 3_600
PROFILE_ENV = "CQT_GATE_PROFILE"
# `cqt gate --source sim`: the deployment profile judges the simulator's database and its sim runs.
SOURCE_ENV = "CQT_GATE_SOURCE"
LOCAL_RUN_ENV = "CQT_GATE_LOCAL_RUN"
# The local profile keeps everything of its own (database, logs, spool, exports) here, so it never touches
# a user's ./data/pg or data/datasets.
LOCAL_DIR = Path("data/gate")
LOCAL_CONTINUOUS_S = 120


@dataclass(frozen=True)
class Profile:
    """Durations and locations one gate session judges against."""

    name: str
    bot_source: str
    continuous_s: int
    check_window_s: int
    dataset_dir: Path
    log_dir: Path | None

    @property
    def local(self) -> bool:
        """True for the short local run."""
        return self.name == "local"

    def milestones(self) -> tuple[tuple[str, int], ...]:
        """ALT-5 item 4: (name, window) at which the pipeline checks must pass."""
        return (("+10 min", self.continuous_s), ("+1 h", HOUR_S), ("+24 h", DAY_S))

    def note(self) -> str:
        """The suffix every message of a local judgement carries."""
        if not self.local:
            return ""
        return (
            f" [local profile: short simulator run; {self.continuous_s} s stands in for 10 min,"
            f" checks over the last {self.check_window_s} s]"
        )


DEPLOYMENT = Profile(
    name="deployment",
    bot_source="live",
    continuous_s=600,
    check_window_s=600,
    dataset_dir=Path("data/datasets"),
    log_dir=None,
)

LOCAL = Profile(
    name="local",
    bot_source="sim",
    continuous_s=LOCAL_CONTINUOUS_S,
    check_window_s=LOCAL_CONTINUOUS_S,
    dataset_dir=LOCAL_DIR / "datasets",
    log_dir=LOCAL_DIR / "logs",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DEPLOYMENT, LOCAL)}


def from_env(environ: Mapping[str, str] = os.environ) -> Profile:
    """The profile the gate runner chose (deployment when run by hand without the runner)."""
    name = environ.get(PROFILE_ENV, DEPLOYMENT.name)
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ValueError(f"{PROFILE_ENV}={name!r}: expected one of {', '.join(PROFILES)}") from None
    if not profile.local and environ.get(SOURCE_ENV) == "sim":
        return replace(profile, bot_source="sim")
    return profile
