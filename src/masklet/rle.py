"""COCO run-length encoding of binary masks, the format pycocotools and SA-1B use.

A mask (H, W) is read in column-major order as alternating runs of 0s and 1s, starting
with 0s. The compressed string stores each run length (after the third, as the
difference from the run two before) in 5-bit groups, offset by ASCII 48.
"""

from __future__ import annotations

import numpy as np

from .errors import BadInput


def rle_encode(mask: np.ndarray) -> dict[str, object]:
    """The COCO RLE {"size": [H, W], "counts": str} of a boolean (H, W) mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise BadInput(f"mask must be 2-D (H, W), got shape {mask.shape}")
    flat = mask.astype(bool, copy=False).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds)
    if flat.size and flat[0]:
        counts = np.concatenate([[0], counts])  # runs start with zeros
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": _compress(counts)}


def rle_decode(rle: object, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The boolean (H, W) mask of a COCO RLE (compressed string or list of counts).

    With `shape`, the RLE's size must equal it: checked before anything is decoded, so a
    small RLE claiming a huge size costs nothing. Any malformed RLE is a ValueError.
    """
    h, w = rle_size(rle)
    if shape is not None and (h, w) != tuple(shape):
        raise BadInput(f"mask is {w}x{h}, the frame {shape[1]}x{shape[0]}: give a mask of the frame's size")
    counts = rle["counts"]  # type: ignore[index]
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            raise BadInput("RLE counts bytes are not ASCII") from None
    if isinstance(counts, str):
        runs = _decompress(counts)
    elif isinstance(counts, list) and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in counts):
        if any(not 0 <= c <= h * w for c in counts):
            raise BadInput(f"RLE counts must lie in 0..{h * w} (the {w}x{h} mask's pixels)")
        runs = np.asarray(counts, dtype=np.int64)
    else:
        raise BadInput("RLE counts must be a compressed string or a list of non-negative integers")
    if int(runs.sum()) != h * w or (runs.size and int(runs.min()) < 0):
        raise BadInput(f"RLE counts cover {int(runs.sum())} pixels, not {h}x{w}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape((h, w), order="F")


def rle_size(rle: object) -> tuple[int, int]:
    """(H, W) of a COCO RLE, read without decoding it."""
    try:
        h, w = rle["size"]  # type: ignore[index]
        counts = rle["counts"]  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise BadInput('an RLE is {"size": [H, W], "counts": ...}') from None
    if counts is None:
        raise BadInput("RLE counts are missing (null)")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in (h, w)):
        raise BadInput(f'RLE size must be [H, W], two non-negative integers; got {str(rle["size"])[:40]}')  # type: ignore[index]
    return int(h), int(w)


# Each value is written as 5-bit groups, least significant first, in as few groups as hold
# it as a signed number; every group but the last has bit 0x20 set; 48 is added to each.
_MAX_GROUPS = 7  # enough for any 32-bit value


def _compress(counts: np.ndarray) -> str:
    runs = np.asarray(counts, dtype=np.int64)
    x = runs.copy()
    x[3:] -= runs[1:-2]  # after the third, each run is stored as the difference from the run two before
    length = np.ones(x.size, dtype=np.int64)
    for k in range(1, _MAX_GROUPS):  # one more group for each width the value does not fit in
        half = np.int64(1) << (5 * k - 1)
        length += (x < -half) | (x >= half)
    first = np.cumsum(length) - length  # where each value's groups start
    out = np.empty(int(length.sum()), dtype=np.uint8)
    for k in range(_MAX_GROUPS):
        has = np.flatnonzero(length > k)
        if has.size == 0:
            break
        group = (x[has] >> (5 * k)) & 0x1F
        out[first[has] + k] = group + 48 + np.where(length[has] > k + 1, 0x20, 0)
    return out.tobytes().decode("ascii")


def _decompress(text: str) -> np.ndarray:
    try:
        c = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError:
        raise BadInput("RLE counts string is not ASCII") from None
    if c.size == 0:
        return np.zeros(0, dtype=np.int64)
    if int(c.min()) < 0 or int(c.max()) > 63:
        raise BadInput("RLE counts string holds characters outside the COCO alphabet ('0'..'o')")
    last = (c & 0x20) == 0  # the final group of each value
    ends = np.flatnonzero(last)
    if ends.size == 0 or ends[-1] != c.size - 1:
        raise BadInput("RLE counts string ends inside a value")
    starts = np.concatenate([[0], ends[:-1] + 1])
    length = ends - starts + 1
    if int(length.max()) > _MAX_GROUPS:
        raise BadInput(f"RLE counts string holds a value of more than {_MAX_GROUPS} groups")
    x = c[starts] & 0x1F
    for k in range(1, _MAX_GROUPS):
        has = np.flatnonzero(length > k)
        if has.size == 0:
            break
        x[has] |= (c[starts[has] + k] & 0x1F) << (5 * k)
    negative = np.flatnonzero(c[ends] & 0x10)
    x[negative] -= np.int64(1) << (5 * length[negative])  # sign-extend
    counts = x.copy()
    # counts[i] = x[i] + counts[i - 2] for i > 2: running sums over odd and over even indices.
    counts[1::2] = np.cumsum(x[1::2])
    if len(x) > 2:
        counts[2::2] = np.cumsum(x[2::2])
    return counts


def mask_runs(masks: "torch.Tensor") -> list[np.ndarray]:  # noqa: F821
    """Run lengths of each (H, W) boolean mask of a (N, H, W) tensor in COCO order
    (column-major, starting with a run of 0s): the uncompressed RLE counts, all masks at once."""
    import torch

    n, h, w = masks.shape
    flat = masks.transpose(1, 2).reshape(n, h * w)  # column-major
    change = torch.nonzero(flat[:, 1:] != flat[:, :-1])  # (K, 2): mask, position before a change
    per_mask = torch.bincount(change[:, 0], minlength=n).tolist()
    positions = np.split((change[:, 1] + 1).cpu().numpy(), np.cumsum(per_mask)[:-1])
    starts_with_one = flat[:, 0].cpu().numpy() if h * w else np.zeros(n, bool)
    out = []
    for pos, one in zip(positions, starts_with_one):
        bounds = np.concatenate([[0], pos, [h * w]])
        counts = np.diff(bounds)
        out.append(np.concatenate([[0], counts]) if one else counts)
    return out


def runs_to_rle(counts: np.ndarray, h: int, w: int, compressed: bool = True) -> dict[str, object]:
    """A COCO RLE from run lengths: compressed (a string, as pycocotools writes) or not (a list)."""
    counts = np.asarray(counts, dtype=np.int64)
    return {"size": [h, w], "counts": _compress(counts) if compressed else counts.tolist()}


def runs_to_mask(counts: np.ndarray, h: int, w: int) -> np.ndarray:
    """The (H, W) boolean mask of run lengths."""
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((h, w), order="F")
