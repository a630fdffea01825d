"""cqt: crypto market data into PostgreSQL, 1 s bars, point-in-time features and leak-safe labels."""

from importlib.metadata import PackageNotFoundError, version

from cqt._core import version as core_version

try:
    __version__ = version("cqt")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "core_version"]
