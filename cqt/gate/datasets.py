"""The dataset gates' decisions: ALT-6 item 10 and ALT-5 items 5-7."""

from __future__ import annotations

import re

from cqt.gate.commands import Completed
from cqt.gate.exports import VIOLATION, VIOLATION_SHARE, ExportFile
from cqt.gate.items import GUIDES
from cqt.gate.profiles import Profile
from cqt.gate.verdict import GateFailure

# A row of the label study's table: `fixed:0.001  0.001000  12  9  3500  99.4%  0`.
_STUDY_ROW = re.compile(
    r"^(?P<policy>fixed:\S+|dynamic)\s+(?P<r>\S+)\s+(?P<up>\d+)\s+(?P<down>\d+)\s+(?P<none>\d+)\s"
)


def readable_export(written: ExportFile, profile: Profile) -> str:
    """ALT-6 item 10: the file read back (the failures were raised by `judge_export`)."""
    return f"{written.describe()}{profile.note()}"


def violation_drops(written: ExportFile, profile: Profile) -> str:
    """ALT-5 item 5: the export dropped (almost) no rows for label_ts < t0 + horizon."""
    dropped = written.dropped(VIOLATION)
    share = dropped / (written.rows + dropped) if written.rows + dropped else 0.0
    if share > VIOLATION_SHARE:
        raise GateFailure(
            f"{dropped} rows ({100 * share:.2f} % > {100 * VIOLATION_SHARE:.1f} %) dropped for label_ts < t0 +"
            f" horizon in {written.path} — {GUIDES['leak']}"
        )
    return f"label_ts violations dropped: {dropped} of {written.rows + dropped} rows ({100 * share:.3f} %){profile.note()}"


def label_study(done: Completed | str, profile: Profile) -> str:
    """ALT-5 item 7: the study prints fixed and dynamic r_t side by side; an all-NONE policy is explained."""
    if isinstance(done, str):
        raise GateFailure(f"{done} — {GUIDES['entrypoint']}")
    if done.code != 0:
        raise GateFailure(f"`{done.shown}` {done.outcome()}: {done.tail()}")
    rows = [m for m in map(_STUDY_ROW.match, done.stdout.splitlines()) if m]
    policies = {m["policy"].split(":")[0] for m in rows}
    if policies != {"fixed", "dynamic"}:
        raise GateFailure(
            f"`{done.shown}` printed no fixed vs dynamic r_t comparison: {done.stdout.strip()[:400]}"
        )
    all_none = [m["policy"] for m in rows if int(m["none"]) > 0 and int(m["up"]) + int(m["down"]) == 0]
    explained = [p for p in all_none if f"{p}: all " in done.stdout and "Not an error" in done.stdout]
    if len(explained) != len(all_none):
        raise GateFailure(
            f"all-NONE policies {', '.join(all_none)} are not reported with the volatility and r_t: {done.tail()}"
        )
    table = "; ".join(
        f"{m['policy']} r_t {m['r']} UP {m['up']} DOWN {m['down']} NONE {m['none']}" for m in rows
    )
    note = f"; all-NONE explained for {', '.join(all_none)}" if all_none else ""
    return f"`{done.shown}`: {table}{note}{profile.note()}"
