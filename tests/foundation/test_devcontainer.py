"""The devcontainer runs the README's commands, so the two cannot drift apart.

`.devcontainer/devcontainer.json` is kept strict JSON (no comments), which every devcontainer tool reads
and `json.loads` checks here. Its commands are compared with the README's first code block: the two lines
`<install> && <run>` (command 1: the bot on the simulator, command 2: the tests).
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from typing import Any

from tests.conftest import REPO_ROOT

DEVCONTAINER = REPO_ROOT / ".devcontainer" / "devcontainer.json"


def readme_commands() -> list[str]:
    """The command lines of the README's first fenced code block (comments and blank lines left out)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, "README.md has no fenced code block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def devcontainer() -> dict[str, Any]:
    config = json.loads(DEVCONTAINER.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def test_readme_opens_with_two_install_and_run_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2, commands
    installs = [command.split(" && ", 1)[0] for command in commands]
    assert installs == ["pip install -e .", 'pip install -e ".[dev]"'], commands


def test_post_create_runs_a_readme_install() -> None:
    installs = {command.split(" && ", 1)[0] for command in readme_commands()}
    assert devcontainer()["postCreateCommand"] in installs


def test_post_start_prints_readme_command_1() -> None:
    command_1 = readme_commands()[0]
    printed = subprocess.run(
        ["bash", "-c", devcontainer()["postStartCommand"]],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    ).stdout
    assert command_1 in printed.splitlines(), printed


def test_image_python_is_the_oldest_supported() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    oldest = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"])
    assert oldest, project["requires-python"]
    config = devcontainer()
    assert f"python:1-{oldest.group(1)}-" in config["image"], config["image"]
    assert any(feature.startswith("ghcr.io/devcontainers/features/rust:") for feature in config["features"])
