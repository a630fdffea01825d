"""The start-up check of the configured symbols against the venues' own listings.

A well-formed symbol that a venue does not list (`FOOBARUSDT`) would make its WebSocket collector fail and
restart forever and its REST pollers log `-1121 Invalid symbol` without end, so the bot asks each venue
once at start: Binance `GET /fapi/v1/exchangeInfo` (only symbols with status `TRADING` count) and Upbit
`GET /v1/market/all`. An unlisted symbol is a setting error. A venue that cannot be asked (unreachable,
an HTTP error, a body that is not its listing) proves nothing: the run goes on with a warning and the
collectors retry as they always do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from cqt.config import Settings

BINANCE_PATH = "/fapi/v1/exchangeInfo"
UPBIT_PATH = "/v1/market/all"
TIMEOUT_S = 10.0


class UnknownSymbols(ValueError):
    """A configured symbol is not listed (or not trading) at its venue; the message names it and the fix."""


class NotAListing(ValueError):
    """The venue answered 200 with a body that is not its listing."""


@dataclass(frozen=True)
class Listing:
    """What one venue answered: its listed symbols with their status, or why it could not be asked."""

    venue: str
    status: dict[str, str]  # symbol -> status ("TRADING" for every Upbit market)
    error: str = ""


def binance_status(body: Any) -> dict[str, str]:
    """Symbol -> status of an exchangeInfo body."""
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise NotAListing("no symbols list")
    return {str(s["symbol"]): str(s.get("status", "")) for s in body["symbols"] if isinstance(s, dict)}


def upbit_status(body: Any) -> dict[str, str]:
    """Market -> "TRADING" of a /v1/market/all body (Upbit lists only markets that trade)."""
    if not isinstance(body, list):
        raise NotAListing("not a list of markets")
    return {str(m["market"]): "TRADING" for m in body if isinstance(m, dict) and "market" in m}


async def _fetch(session: aiohttp.ClientSession, venue: str, url: str) -> Listing:
    parse = binance_status if venue == "Binance" else upbit_status
    try:
        async with session.get(url) as resp:
            text = await resp.text()
            if resp.status != 200:
                return Listing(venue, {}, f"HTTP {resp.status} from {url}")
        return Listing(venue, parse(json.loads(text)))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Listing(venue, {}, f"{url} not reachable ({type(exc).__name__}: {exc})".strip())
    except (ValueError, KeyError, TypeError) as exc:
        return Listing(venue, {}, f"{url} answered something that is not its listing ({exc})")


async def fetch_listings(settings: Settings) -> tuple[Listing, Listing]:
    """Both venues' listings, asked in parallel within TIMEOUT_S."""
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        binance, upbit = await asyncio.gather(
            _fetch(session, "Binance", settings.binance_rest_url + BINANCE_PATH),
            _fetch(session, "Upbit", settings.upbit_rest_url + UPBIT_PATH),
        )
    return binance, upbit


def problems(
    binance: Listing, binance_symbols: Sequence[str], upbit: Listing, markets: Sequence[str]
) -> list[str]:
    """One message per configured symbol its venue does not list or does not trade."""
    out = []
    if not binance.error:
        for symbol in binance_symbols:
            status = binance.status.get(symbol)
            if status is None:
                out.append(
                    f"unknown Binance symbol {symbol}: not in exchangeInfo; check BINANCE_SYMBOLS / --symbols"
                )
            elif status != "TRADING":
                out.append(
                    f"Binance symbol {symbol} is {status}, not TRADING, in exchangeInfo;"
                    " check BINANCE_SYMBOLS / --symbols"
                )
    if not upbit.error:
        out += [
            f"unknown Upbit market {m}: not in /v1/market/all; check UPBIT_MARKETS / --symbols"
            for m in markets
            if m not in upbit.status
        ]
    return out


def check(settings: Settings) -> list[str]:
    """Raise UnknownSymbols for a symbol a venue does not list; returns a warning per venue it could not
    ask."""
    binance, upbit = asyncio.run(fetch_listings(settings))
    found = problems(binance, settings.binance_symbols, upbit, settings.upbit_markets)
    if found:
        raise UnknownSymbols("; ".join(found))
    return [
        f"{listing.venue} symbols not checked: {listing.error}; the collectors retry"
        for listing in (binance, upbit)
        if listing.error
    ]
