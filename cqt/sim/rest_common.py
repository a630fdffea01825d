"""Pieces every simulated REST API shares: JSON responses with exact text, and the HTTP fault hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web

from cqt.sim.faults import FaultPlan


def json_response(
    text: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    return web.Response(
        body=text.encode(), status=status, headers={**(headers or {}), "Content-Type": content_type}
    )


async def http_fault(
    plan: FaultPlan, venue: str, request: web.Request, error_body: Callable[[int], str]
) -> web.Response | None:
    """Apply armed `slow` (delay, then answer normally) and `http_error` faults to this request."""
    if not plan.active:
        return None
    slow = plan.take_http("slow", venue, request.path)
    if slow is not None:
        await asyncio.sleep(slow.seconds)
    failure = plan.take_http("http_error", venue, request.path)
    if failure is None:
        return None
    headers = {"Retry-After": "1"} if failure.status in (418, 429, 503) else {}
    return json_response(error_body(failure.status), status=failure.status, headers=headers)
