"""The DAVIS colour palette: index k is object k in palette-indexed mask PNGs."""

from __future__ import annotations


def _davis_palette() -> list[int]:
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


PALETTE: list[int] = _davis_palette()
