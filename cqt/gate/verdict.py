"""How a gate ends: a returned evidence text (PASS), `GateFailure` (FAIL) or `Pending` (PENDING).

The step definitions turn `Pending` into a pytest skip whose reason is `PENDING[<precondition>] <reason>`
and `GateFailure` into a failed assertion; the results plugin reads them back into `GateResult`s.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["PASS", "FAIL", "PENDING"]
STATUSES: tuple[Status, ...] = ("PASS", "PENDING", "FAIL")
# The file the results plugin appends one GateResult per line to (set by the runner for its pytest child).
RESULTS_ENV = "CQT_GATE_RESULTS"

_SKIP_REASON = re.compile(r"^PENDING\[(?P<precondition>[^\]]+)\] (?P<reason>.*)$", re.DOTALL)


class Pending(Exception):
    """A precondition of the gate is absent; `precondition` names it, `reason` says exactly what was seen."""

    def __init__(self, precondition: str, reason: str) -> None:
        super().__init__(f"PENDING[{precondition}] {reason}")
        self.precondition = precondition
        self.reason = reason


def parse_pending(skip_reason: str) -> tuple[str, str] | None:
    """(precondition, reason) of a skip raised from `Pending`, or None for any other skip."""
    found = _SKIP_REASON.match(skip_reason.removeprefix("Skipped: "))
    return (found["precondition"], found["reason"]) if found else None


class GateFailure(AssertionError):
    """The gate verified that the requirement does not hold; the message carries the failure guide."""


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate item in one session."""

    item: str
    status: Status
    evidence: str
    precondition: str | None = None
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        """The inverse of `to_json`."""
        return cls(**data)
