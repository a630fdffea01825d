"""`cqt env init`: build `.env` from `.env.example` without ever losing a real key.

Rules, in order of precedence for each key of the template:
1. a secret that is real (not a placeholder) in the process environment is written (key activation:
   `COINGLASS_API_KEY=... cqt env init`);
2. otherwise the value already in `.env` is kept, except that a placeholder never replaces a real value;
3. otherwise the template's value.
Keys of the old `.env` that the template does not have are kept at the end. The old file is first copied
to `.env.bak.<UTC timestamp>`. The report gives, per secret, presence, length and placeholder status only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dotenv import dotenv_values

from cqt.config import is_placeholder, secret_names


@dataclass(frozen=True)
class SecretStatus:
    """What may be said about a secret: never its value."""

    name: str
    present: bool
    length: int
    placeholder: bool
    source: str

    @classmethod
    def of(cls, name: str, value: str, source: str) -> SecretStatus:
        """The status of secret `name` holding `value` (which is not kept)."""
        return cls(name, bool(value), len(value), bool(value) and is_placeholder(value), source)

    def summary(self) -> str:
        """`present, length 32, placeholder no`: everything that may be said about the value."""
        presence = "present" if self.present else "absent"
        return f"{presence}, length {self.length}, placeholder {'yes' if self.placeholder else 'no'}"

    def line(self) -> str:
        return f"{self.name}: {self.summary()} (from {self.source})"


@dataclass(frozen=True)
class InitResult:
    """Outcome of `init_env`."""

    target: Path
    backup: Path | None
    secrets: list[SecretStatus]


def _template_lines(example: Path) -> list[tuple[str | None, str]]:
    """(key or None, raw line) for each line of the template, keeping comments and order."""
    out: list[tuple[str | None, str]] = []
    for raw in example.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key = stripped.split("=", 1)[0].removeprefix("export ").strip()
            out.append((key, raw))
        else:
            out.append((None, raw))
    return out


def _quote(value: str) -> str:
    if value == "" or all(c.isalnum() or c in "-_./:@,+" for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _choose(
    key: str, template: str, old: Mapping[str, str | None], environ: Mapping[str, str], secrets: set[str]
) -> tuple[str, str]:
    env_value = environ.get(key)
    if key in secrets and env_value is not None and not is_placeholder(env_value):
        return env_value, "environment"
    old_value = old.get(key)
    if old_value is not None and not (is_placeholder(old_value) and not is_placeholder(template)):
        return old_value, ".env"
    return template, ".env.example"


def init_env(
    example: Path, target: Path, environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> InitResult:
    """Write `target` from `example` following the module rules; return what happened."""
    if not example.is_file():
        raise FileNotFoundError(f"template {example} not found (run from the project root)")
    environ = os.environ if environ is None else environ
    secrets = set(secret_names())
    old: dict[str, str | None] = dict(dotenv_values(target)) if target.is_file() else {}

    backup = None
    if target.exists():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        backup = target.with_name(f"{target.name}.bak.{stamp}")
        n = 0
        while backup.exists():  # two runs within one second must not overwrite the first backup
            n += 1
            backup = target.with_name(f"{target.name}.bak.{stamp}-{n}")
        shutil.copy2(target, backup)

    template_values = dotenv_values(example)
    lines: list[str] = []
    sources: dict[str, tuple[str, str]] = {}
    for key, raw in _template_lines(example):
        if key is None:
            lines.append(raw)
            continue
        value, source = _choose(key, template_values.get(key) or "", old, environ, secrets)
        sources[key] = (value, source)
        lines.append(f"{key}={_quote(value)}")
    extra = [k for k in old if k not in sources]
    if extra:
        lines += ["", "# kept from the previous .env (not in .env.example)"]
        lines += [f"{k}={_quote(old[k] or '')}" for k in extra]

    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(target, 0o600)

    statuses = []
    for name in sorted(secrets):
        value, source = sources.get(name, ("", "absent"))
        statuses.append(SecretStatus.of(name, value, source))
    return InitResult(target=target, backup=backup, secrets=statuses)
