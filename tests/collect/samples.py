"""The real payload samples of ../shared/reference/protocols (see its README for provenance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT.parent / "shared" / "reference" / "protocols"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def sample_path(name: str) -> Path:
    return SAMPLES / name
