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
    runs = np.asarray(counts, dtype=np.int64)
    x = runs.copy()
    x[3:] -= runs[1:-2]  # after the third, each run is stored as the difference from the run two before
    shifts = 5 * np.arange(7)  # 7 groups of 5 bits hold any 32-bit value
    groups = (x[:, None] >> shifts) & 0x1F  # (N, 7)
    rest = x[:, None] >> (shifts + 5)  # arithmetic shift: negative values end at -1
    more = np.where(groups & 0x10, rest != -1, rest != 0)
    length = np.argmin(more, axis=1) + 1  # groups up to and including the first without "more"
    used = np.arange(7) < length[:, None]
    chars = groups + 48 + np.where(np.arange(7) < (length - 1)[:, None], 0x20, 0)
    return chars[used].astype(np.uint8).tobytes().decode("ascii")


def _decompress(text: str) -> list[int]:
    c = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return []
    last = (c & 0x20) == 0  # the final group of each value
    value_of = np.concatenate([[0], np.cumsum(last)[:-1]])  # which value each group belongs to
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    position = np.arange(c.size) - starts[value_of]  # group index within its value
    x = np.zeros(int(last.sum()), dtype=np.int64)
    np.add.at(x, value_of, (c & 0x1F) << (5 * position))
    ends = np.flatnonzero(last)
    negative = (c[ends] & 0x10) != 0
    x[negative] -= np.int64(1) << (5 * (position[ends[negative]] + 1))  # sign-extend
    counts = x.copy()
    # counts[i] = x[i] + counts[i - 2] for i > 2: running sums over odd and over even indices.
    counts[1::2] = np.cumsum(x[1::2])
    if len(x) > 2:
        counts[2::2] = np.cumsum(x[2::2])
    return counts.tolist()
