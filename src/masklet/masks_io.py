"""Masks on disk: palette-indexed PNGs in the DAVIS layout, mask prompts, and output
folders that appear only when complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from .atomic import DIR_MODE, atomic_path
from .errors import BadInput, LimitError, NotFound, OutputRefused
from .palette import PALETTE


def label_map(obj_ids: Sequence[int], masks: np.ndarray) -> np.ndarray:
    """One (H, W) uint8 map from boolean masks (N, H, W): pixel = object id, 0 = background.

    Where masks overlap, the later object wins, as in the DAVIS annotations.
    """
    if masks.ndim != 3 or len(obj_ids) != masks.shape[0]:
        raise BadInput(f"expected (N, H, W) masks for {len(obj_ids)} objects, got {masks.shape}")
    labels = np.zeros(masks.shape[1:], dtype=np.uint8)
    for obj_id, mask in zip(obj_ids, masks):
        if not 1 <= obj_id <= 255:
            raise BadInput(f"object id {obj_id} cannot be a palette index: use ids 1..255")
        labels[mask] = obj_id
    return labels


def label_png(labels: np.ndarray) -> Image.Image:
    """A palette PNG image of a label map (index k drawn in the DAVIS colour of object k)."""
    png = Image.fromarray(labels.astype(np.uint8), mode="P")
    png.putpalette(PALETTE)
    return png


def save_label_png(labels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a label map as a palette-indexed PNG, atomically."""
    with atomic_path(path) as tmp:
        label_png(labels).save(tmp, format="PNG")
    return Path(path)


def read_mask_png(path: str | os.PathLike, obj_id: int | None = None) -> np.ndarray:
    """A boolean (H, W) mask from a PNG: pixels equal to `obj_id` in a palette-indexed file
    that contains that id, otherwise every non-zero pixel."""
    try:
        with Image.open(path) as img:
            if img.mode == "P":
                values = np.asarray(img)
                if obj_id is not None and (values == obj_id).any():
                    return values == obj_id
                return values > 0
            return np.asarray(img.convert("L")) > 127
    except FileNotFoundError:
        raise NotFound(f"mask file not found: {path}") from None
    except Image.DecompressionBombError as exc:
        raise LimitError(f"mask {path} is too large to open: {exc}") from None
    except OSError as exc:
        raise BadInput(f"cannot read mask {path}: {exc}") from None


# Written into every output folder: only a folder holding it (or an empty one) is ever
# replaced without --force.
OUTPUT_MARK = ".masklet-output"


def check_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (), folder: bool = False, force: bool = False) -> None:
    """Refuse an output that is, holds or lies inside one of the `inputs` (even with
    `force`), and for a `folder`, an existing one that masklet did not write and is not
    empty (unless `force`)."""
    path = Path(path)
    target = path.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if target == source or source.is_relative_to(target) or target.is_relative_to(source):
            relation = "is" if target == source else "holds" if source.is_relative_to(target) else "lies inside"
            raise OutputRefused(f"output {path} {relation} the input {given}: masklet never writes into or over its input; "
                                f"choose another output path")
    if not folder or not path.exists() and not path.is_symlink():
        return
    if not path.is_dir() or path.is_symlink():
        raise OutputRefused(f"output folder {path} exists and is not a folder: choose another path")
    entries = list(path.iterdir())
    if force or not entries or (path / OUTPUT_MARK).is_file():
        return
    shown = ", ".join(sorted(e.name for e in entries)[:3]) + (", ..." if len(entries) > 3 else "")
    raise OutputRefused(f"output folder {path} exists and holds files masklet did not write ({shown}): masklet replaces "
                        f"only an empty folder or one it wrote; choose another -o, or add --force to replace it")


@contextmanager
def output_folder(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (), force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it becomes `path` only if the block
    succeeds, replacing what was there. A failure leaves the earlier `path` untouched.

    What may be replaced is checked first and again at the end (`check_output`); the
    folder is marked as masklet's, so a later run may replace it.
    """
    path = Path(path)
    check_output(path, inputs, folder=True, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
    try:
        yield tmp
        (tmp / OUTPUT_MARK).write_text("written by masklet; a later run may replace this folder\n")
        check_output(path, inputs, folder=True, force=force)  # the folder may have changed meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, DIR_MODE)
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
        os.replace(path, old / "previous")
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
