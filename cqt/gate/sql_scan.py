"""ALT-6 item 3: find SQL text built by string interpolation (f-string, %, .format(), +) in Python source.

Values belong in query parameters (`%s`, `make_interval(secs => %s)`) and identifiers in
`psycopg.sql.Identifier`; a string that looks like SQL and is assembled from non-constant parts is a
finding wherever it is built, because it is executed somewhere else more often than not.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

# Statement shapes, not lone words. Shapes that also read as English ("select a symbol from the list",
# "where x = 1") count only in upper case, the project's SQL style; the others in any case.
SQL_SHAPE = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bWHERE\s+\w+\s*(=|<|>|IN\b)|^\s*SET\s+\w+\s*(=|TO\b)"
    r"|(?i:\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(CREATE|DROP|ALTER|TRUNCATE)\s+(TABLE|DATABASE|INDEX|VIEW|SCHEMA)\b|\bINTERVAL\s+'|\bCOPY\s+\S+\s+(FROM|TO)\b)"
)


@dataclass(frozen=True)
class Finding:
    """One interpolated SQL string."""

    path: Path
    line: int
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: SQL built by {self.how}"


def _constant_text(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The literal text of a string constant, a module-level string constant's name, or a concatenation of
    those."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant_text(node.left, constants), _constant_text(node.right, constants)
        if left is not None and right is not None:
            return left + right
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"` assignments (in order, so a constant may build on an earlier one)."""
    constants: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            value = _constant_text(stmt.value, constants)
            if value is not None:
                constants[stmt.targets[0].id] = value
    return constants


def _literal_parts(node: ast.expr) -> str:
    """All literal text inside an expression (used to decide whether it looks like SQL)."""
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _named_parts(node: ast.expr, constants: dict[str, str]) -> str:
    """The text of the module constants an expression names."""
    return " ".join(constants[n.id] for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in constants)


def _interpolation(node: ast.expr, constants: dict[str, str]) -> str | None:
    """How `node` builds a string from non-constant parts, or None."""
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        return "an f-string"
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod)
        and _constant_text(node.left, constants) is not None
    ):
        return "%-formatting"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and _constant_text(node.func.value, constants) is not None
    ):
        return "str.format()"
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and _constant_text(node, constants) is None
    ):
        if (
            _constant_text(node.left, constants) is not None
            or _constant_text(node.right, constants) is not None
        ):
            return "+ concatenation"
    return None


def scan_source(source: str, path: Path) -> list[Finding]:
    """Findings in one module's source."""
    tree = ast.parse(source, filename=str(path))
    constants = _module_constants(tree)
    found: list[Finding] = []
    inner: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr) or id(node) in inner:
            continue
        how = _interpolation(node, constants)
        if how is None or not SQL_SHAPE.search(_literal_parts(node) + " " + _named_parts(node, constants)):
            continue
        found.append(Finding(path, node.lineno, how))
        # one finding per expression: `"SELECT " + a + " FROM t"` is one concatenation, not two
        inner.update(id(n) for n in ast.walk(node) if n is not node)
    return found


def scan_tree(root: Path, package: str = "cqt") -> tuple[int, list[Finding]]:
    """(modules scanned, findings) under `root/package`."""
    files = sorted((root / package).rglob("*.py"))
    found: list[Finding] = []
    for file in files:
        found += scan_source(file.read_text(encoding="utf-8"), file.relative_to(root))
    return len(files), found
