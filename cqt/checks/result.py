"""What a check returns and how it is printed: measurements against thresholds, PASS / FAIL / ERROR.

Every measurement carries the measured value next to its threshold and the comparison (``<=``, ``>=``),
so a reader (or the gate engineer's parser of ``--json``) never has to guess why something passed.
A value of ``None`` means "nothing to measure" (no rows): it fails a bounded measurement, because a
check that cannot see its evidence must not pass. A check FAILs when any measurement fails; ERROR
means it could not run at all (exit 2), with the reason and the fix in ``error``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

Op = Literal["<=", ">=", "=="]
Status = Literal["PASS", "FAIL", "ERROR"]
EXIT_CODE: dict[Status, int] = {"PASS": 0, "FAIL": 1, "ERROR": 2}


@dataclass(frozen=True)
class Measurement:
    """One measured value and the bound it is held to."""

    name: str
    value: float | None
    threshold: float | None
    op: Op
    unit: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        """``ok   <name> = <value> <unit> (<op> <threshold>) <detail>``."""
        mark = "ok  " if self.ok else "FAIL"
        bound = "" if self.threshold is None else f" ({self.op} {fmt(self.threshold)}{_unit(self.unit)})"
        detail = f"  {self.detail}" if self.detail else ""
        return f"{mark} {self.name} = {fmt(self.value)}{_unit(self.unit)}{bound}{detail}"

    def margin(self) -> float:
        """How far inside its bound the value is, relative to the bound (small = tight); inf if unbounded."""
        if self.value is None or self.threshold is None or self.op == "==":
            return math.inf
        room = self.threshold - self.value if self.op == "<=" else self.value - self.threshold
        return room / max(abs(self.threshold), 1e-12)


def at_most(name: str, value: float | None, limit: float, unit: str = "", detail: str = "") -> Measurement:
    """Passes when ``value <= limit`` (``None`` fails)."""
    return Measurement(name, value, limit, "<=", unit, value is not None and value <= limit, detail)


def at_least(name: str, value: float | None, limit: float, unit: str = "", detail: str = "") -> Measurement:
    """Passes when ``value >= limit`` (``None`` fails)."""
    return Measurement(name, value, limit, ">=", unit, value is not None and value >= limit, detail)


def equals(name: str, value: float | None, expected: float, unit: str = "", detail: str = "") -> Measurement:
    """Passes when ``value == expected`` (flags and counts that must be exact)."""
    return Measurement(name, value, expected, "==", unit, value is not None and value == expected, detail)


def fmt(v: float | None) -> str:
    """A compact number: integers as such, others with 4 significant digits."""
    if v is None:
        return "none"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


@dataclass
class CheckResult:
    """The outcome of one check over one window."""

    check: str
    window_s: int
    now: datetime | None = None
    measurements: list[Measurement] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> Status:
        if self.error is not None:
            return "ERROR"
        return "PASS" if self.measurements and all(m.ok for m in self.measurements) else "FAIL"

    @property
    def exit_code(self) -> int:
        return EXIT_CODE[self.status]

    def summary(self) -> str:
        """``<CHECK>: PASS|FAIL|ERROR (...)``: the failures with their values, or the tightest pass."""
        head = f"{self.check.upper()}: {self.status}"
        if self.error is not None:
            return f"{head} ({self.error})"
        if not self.measurements:
            return f"{head} (nothing measured in the {self.window_s} s window)"
        failed = [m for m in self.measurements if not m.ok]
        n = len(self.measurements)
        if failed:
            shown = "; ".join(_brief(m) for m in failed[:5])
            more = f"; +{len(failed) - 5} more" if len(failed) > 5 else ""
            return f"{head} ({len(failed)} of {n} failed: {shown}{more})"
        # "0 <= 0" bounds (counts that must be zero) are always at their limit: the nearest non-zero bound
        # (a lag, a fill, a share) says more about how healthy the pass is
        bounded = [m for m in self.measurements if m.threshold and m.margin() != math.inf]
        tight = min(bounded, key=Measurement.margin, default=None)
        extra = "" if tight is None else f"; tightest: {_brief(tight)}"
        return f"{head} ({n} of {n} ok over {self.window_s} s{extra})"

    def text(self) -> str:
        """One line per measurement, then the summary line."""
        return "\n".join([*(m.line() for m in self.measurements), self.summary()])

    def to_json(self) -> str:
        doc = {
            "check": self.check,
            "status": self.status,
            "window_s": self.window_s,
            "now": None if self.now is None else self.now.isoformat(),
            "measurements": [asdict(m) | {"value": _finite(m.value)} for m in self.measurements],
            "error": self.error,
        }
        return json.dumps(doc, allow_nan=False)


def _brief(m: Measurement) -> str:
    bound = "" if m.threshold is None else f" {m.op} {fmt(m.threshold)}"
    return f"{m.name} {fmt(m.value)}{bound}{_unit(m.unit)}"


def _finite(v: float | None) -> float | None:
    return v if v is None or math.isfinite(v) else None
