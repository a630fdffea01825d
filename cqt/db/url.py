"""Database URLs as a user writes them: parsed once, and shown only with the password masked.

A URL that libpq cannot parse must still be shown without its password, so masking works on the text
(`scheme://user:password@`, `password=...`) as well as on parsed parameters.
"""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

# user:password@ wherever it stands, so a mistyped scheme (postgresql:/, mysql://) is masked too, and up to
# the last @ of the word: a password may hold an unescaped @ or / (then the host's start is hidden too)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*:/+[^\s:/@]*:|[^\s:/@]*:(?!/))\S*@")
_KEY_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask(text: str) -> str:
    """`text` with every password in it replaced by ***, whether or not it parses."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _KEY_PASSWORD.sub(r"\g<head>***", text)


def check(url: str) -> str:
    """`url` unchanged when libpq can parse it; else ValueError naming the masked URL and the two forms."""
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ValueError(
            f"{mask(url)!r} is not a PostgreSQL connection string: expected"
            " postgresql://user:password@host:5432/dbname or key=value pairs (host=... dbname=...)"
        ) from None
    if "://" in url and url.count("@") > 1:
        # libpq would split at the first @ and take the rest of the password for the host, then print it
        raise ValueError(f"{mask(url)!r} has more than one @: write an @ in the password as %40")
    return url


def display(url: str) -> str:
    """A printable description of a parseable `url`: postgresql://user:***@host:port/db."""
    params = conninfo_to_dict(url)
    user = params.get("user", "")
    host = params.get("host", "")
    port = params.get("port", "")
    db = params.get("dbname", "")
    auth = f"{user}:***@" if params.get("password") else (f"{user}@" if user else "")
    if str(host).startswith("/"):  # Unix socket directory
        return f"postgresql://{auth}/{db}?host={host}"
    where = f"{host}:{port}" if port else str(host)
    return f"postgresql://{auth}{where}/{db}"
