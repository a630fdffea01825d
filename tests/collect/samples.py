"""The venues' payload samples in tests/data/protocols (its README names each file's public source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "tests" / "data" / "protocols"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def sample_path(name: str) -> Path:
    return SAMPLES / name
