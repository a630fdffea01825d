"""Stateless, seeded smooth noise: a value for any timestamp without simulating up to it.

Slow metric series (open interest, account ratios, the price history before a live run started) must be
answerable for arbitrary past windows (REST history endpoints), so they are functions of time, not of a
running state. Value noise: seeded Gaussian knots, cosine-interpolated, summed over three octaves.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from numpy.typing import NDArray

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _knot_normals(seed: int, key: str, knots: NDArray[np.int64]) -> NDArray[np.float64]:
    base = np.uint64((seed * 1_000_003 + zlib.crc32(key.encode())) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        h1 = _splitmix64(knots.astype(np.uint64) ^ base)
        h2 = _splitmix64(h1 ^ np.uint64(0xD1B54A32D192ED03))
    u1 = (h1 >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53) + 1e-300
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def smooth_noise(seed: int, key: str, t_ms: NDArray[np.int64], period_ms: int) -> NDArray[np.float64]:
    """Approximately standard-normal noise varying on the scale of `period_ms`."""
    t = np.asarray(t_ms, dtype=np.int64)
    total = np.zeros(t.shape, dtype=np.float64)
    norm = 0.0
    for octave, weight in ((1, 1.0), (4, 0.5), (16, 0.25)):
        step = max(1, period_ms // octave)
        k0 = np.floor_divide(t, step)
        frac = (t - k0 * step) / step
        w = 0.5 - 0.5 * np.cos(np.pi * frac)
        okey = f"{key}/{octave}"
        v0 = _knot_normals(seed, okey, k0)
        v1 = _knot_normals(seed, okey, k0 + 1)
        total += weight * (v0 * (1.0 - w) + v1 * w)
        norm += weight * weight
    return total / math.sqrt(norm)
