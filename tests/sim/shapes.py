"""Recursive comparison of JSON payloads by field set and JSON type, and of number token forms."""

from __future__ import annotations

import json
from typing import Any


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value))


def shape_diff(
    sample: Any, actual: Any, allowed_extra: frozenset[str] = frozenset(), path: str = ""
) -> list[str]:
    """Differences in field names and JSON types; `allowed_extra` lists dotted paths the simulator may add
    (fields the live 2026 protocol has and an older or documentation sample lacks)."""
    ks, ka = json_kind(sample), json_kind(actual)
    if ks != ka:
        return [f"{path or '$'}: sample {ks}, simulator {ka}"]
    problems: list[str] = []
    if isinstance(sample, dict):
        for key in sample.keys() - actual.keys():
            problems.append(f"{path}.{key}: missing in simulator")
        for key in actual.keys() - sample.keys():
            if f"{path}.{key}".lstrip(".") not in allowed_extra:
                problems.append(f"{path}.{key}: not in sample")
        for key in sample.keys() & actual.keys():
            problems += shape_diff(sample[key], actual[key], allowed_extra, f"{path}.{key}")
    elif isinstance(sample, list):
        if sample and not actual:
            problems.append(f"{path}[]: simulator array is empty")
        for item in actual[:50]:
            problems += shape_diff(sample[0], item, allowed_extra, f"{path}[]") if sample else []
    return problems


def number_tokens(text: str) -> Any:
    """The payload with every number replaced by 'int' or 'decimal' (its literal form on the wire)."""
    return json.loads(text, parse_int=lambda _: "int", parse_float=lambda _: "decimal")


def token_diff(sample_text: str, actual_text: str) -> list[str]:
    def walk(s: Any, a: Any, path: str) -> list[str]:
        if isinstance(s, dict) and isinstance(a, dict):
            return [p for k in s.keys() & a.keys() for p in walk(s[k], a[k], f"{path}.{k}")]
        if isinstance(s, list) and isinstance(a, list) and s and a:
            return walk(s[0], a[0], path + "[0]")
        if s in ("int", "decimal") and s != a:
            return [f"{path}: sample {s}, simulator {a}"]
        return []

    return walk(number_tokens(sample_text), number_tokens(actual_text), "")
