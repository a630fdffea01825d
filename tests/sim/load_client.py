"""Frame counter for throughput measurements: `python load_client.py SECONDS URL [URL...]`.

A deliberately minimal WebSocket client (HTTP upgrade, then frame headers only: no payload decoding), run
as its own process, so the number measures what the simulator offers rather than how fast a Python client
can decode. Upbit URLs get a trade + orderbook subscription. Prints one JSON line:
{"frames": n, "seconds": s, "per_second": r, "bytes": b}.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
from urllib.parse import urlsplit

UPBIT_REQUEST = json.dumps(
    [
        {"ticket": "load"},
        {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"]},
        {"type": "orderbook", "codes": ["KRW-BTC.1", "KRW-ETH.1"]},
        {"format": "SIMPLE"},
    ]
).encode()


def _client_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    header = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return header + mask + masked


async def count_frames(url: str, deadline: float) -> tuple[int, int]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"handshake failed: {head[:80]!r}")
    if "websocket/v1" in url:
        writer.write(_client_frame(UPBIT_REQUEST))
    frames = 0
    total = 0
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            chunk = await asyncio.wait_for(reader.read(1 << 20), left)
        except TimeoutError:
            break
        if not chunk:
            break
        total += len(chunk)
        buf += chunk
        pos = 0
        n = len(buf)
        while pos + 2 <= n:
            length = buf[pos + 1] & 0x7F
            head_len = 2
            if length == 126:
                if pos + 4 > n:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head_len = 4
            elif length == 127:
                if pos + 10 > n:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head_len = 10
            if pos + head_len + length > n:
                break
            if buf[pos] & 0x0F in (1, 2):
                frames += 1
            pos += head_len + length
        buf = buf[pos:]
    writer.close()
    return frames, total


async def main(seconds: float, urls: list[str]) -> None:
    start = time.monotonic()
    results = await asyncio.gather(*(count_frames(u, start + seconds) for u in urls))
    elapsed = time.monotonic() - start
    frames = sum(f for f, _ in results)
    print(
        json.dumps(
            {
                "frames": frames,
                "seconds": round(elapsed, 3),
                "per_second": round(frames / elapsed),
                "bytes": sum(b for _, b in results),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), sys.argv[2:]))
