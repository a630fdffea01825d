"""Wire-exact JSON text: number formatting the exchanges use, a tiny encoder that keeps preformatted
number tokens verbatim, and WebSocket frame bytes for the batched send path."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import TypeAlias

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2


class Num(str):
    """A JSON number token kept exactly as formatted (`100473000.00000000` must not become `100473000.0`)."""

    __slots__ = ()


JSONValue: TypeAlias = "None | bool | int | float | str | Num | Sequence[JSONValue] | Mapping[str, JSONValue]"


def fixed(x: float, decimals: int) -> str:
    """Binance-style decimal string with a fixed number of decimals and no negative zero."""
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and not text.strip("-0."):
        return text[1:]
    return text


def upbit_decimal(x: float) -> Num:
    """Upbit prints doubles with eight decimals on the wire (`100473000.00000000`)."""
    return Num(fixed(x, 8))


def plain_number(x: float) -> Num:
    """An integral value as a JSON integer, anything else as the shortest float text."""
    if float(x).is_integer():
        return Num(str(int(x)))
    return Num(repr(float(x)))


def encode(value: JSONValue) -> str:
    """Compact JSON, `Num` tokens emitted verbatim."""
    parts: list[str] = []
    _encode_into(value, parts)
    return "".join(parts)


def _encode_into(value: JSONValue, out: list[str]) -> None:
    if isinstance(value, Num):
        out.append(str.__str__(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif value is None or isinstance(value, bool | int | float):
        out.append(json.dumps(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode_into(item, out)
        out.append("}")
    else:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode_into(item, out)
        out.append("]")


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """One final, unmasked server-to-client WebSocket frame (RFC 6455 section 5.2)."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload
