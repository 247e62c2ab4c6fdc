"""COCO run-length encoding of binary masks, the format pycocotools and SA-1B use.

A mask (H, W) is read in column-major order as alternating runs of 0s and 1s, starting
with 0s. The compressed string stores each run length (after the third, as the
difference from the run two before) in 5-bit groups, offset by ASCII 48.
"""

from __future__ import annotations

import numpy as np


def rle_encode(mask: np.ndarray) -> dict[str, object]:
    """The COCO RLE {"size": [H, W], "counts": str} of a boolean (H, W) mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    flat = mask.astype(bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts  # runs start with zeros
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": _compress(counts)}


def rle_decode(rle: dict[str, object]) -> np.ndarray:
    """The boolean (H, W) mask of a COCO RLE (compressed string or list of counts)."""
    try:
        h, w = (int(v) for v in rle["size"])  # type: ignore[index, union-attr]
        counts = rle["counts"]  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise ValueError('an RLE is {"size": [H, W], "counts": ...}') from None
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    runs = _decompress(counts) if isinstance(counts, str) else [int(c) for c in counts]  # type: ignore[union-attr]
    if sum(runs) != h * w or min(runs, default=0) < 0:
        raise ValueError(f"RLE counts cover {sum(runs)} pixels, not {h}x{w}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape((h, w), order="F")


def _compress(counts: list[int]) -> str:
    out = []
    for i, run in enumerate(counts):
        x = run - counts[i - 2] if i > 2 else run
        while True:
            group = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences end at -1
            more = x != -1 if group & 0x10 else x != 0
            out.append(chr(group + (0x20 if more else 0) + 48))
            if not more:
                break
    return "".join(out)


def _decompress(text: str) -> list[int]:
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        x, shift, more = 0, 0, True
        while more:
            c = ord(text[pos]) - 48
            x |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                x -= 1 << shift  # sign-extend
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts
