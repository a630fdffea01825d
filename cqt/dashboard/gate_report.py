"""Reading `reports/gate.json`, the matrix `cqt gate` writes, tolerant of fields it does not know or lacks.

The file is a JSON object holding a list of gate items (each with at least `id`, `title`, `result` of
PASS / FAIL / PENDING, and `evidence`); the list's key is not fixed here, the first list of objects is
taken. Anything unreadable becomes an explanation instead of an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_PATH = Path("reports/gate.json")
RESULTS = ("PASS", "FAIL", "PENDING")


@dataclass(frozen=True)
class GateItem:
    id: str
    title: str
    result: str  # PASS | FAIL | PENDING, or UNKNOWN when the file says something else
    evidence: str


@dataclass(frozen=True)
class GateReport:
    items: list[GateItem] = field(default_factory=list)
    generated: str | None = None  # the report's own timestamp, if it has one
    problem: str | None = None  # why the file could not be used

    def count(self, result: str) -> int:
        return sum(1 for item in self.items if item.result == result)


def load(path: Path = REPORT_PATH) -> GateReport | None:
    """The report at `path`; None when there is no file."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return GateReport(problem=f"{path} is not readable JSON: {exc}")
    raw = _item_list(doc)
    if raw is None:
        return GateReport(problem=f"{path} holds no list of gate items")
    generated = next(
        (
            str(doc[k])
            for k in ("generated_at", "generated", "ts", "created_at")
            if isinstance(doc, dict) and k in doc
        ),
        None,
    )
    return GateReport([_item(i, entry) for i, entry in enumerate(raw, 1)], generated)


def _item_list(doc: Any) -> list[dict[str, Any]] | None:
    candidates = [doc] if isinstance(doc, list) else list(doc.values()) if isinstance(doc, dict) else []
    for value in candidates:
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
    return None


def _item(position: int, entry: dict[str, Any]) -> GateItem:
    result = str(entry.get("result", "")).strip().upper()
    evidence = entry.get("evidence", "")
    if not isinstance(evidence, str):
        evidence = json.dumps(evidence, ensure_ascii=False, default=str)
    return GateItem(
        id=str(entry.get("id", f"#{position}")),
        title=str(entry.get("title", "")),
        result=result if result in RESULTS else "UNKNOWN",
        evidence=evidence,
    )
