"""Test families written apart from the training generator: other code, other photos
(`eval/photos`, which training never reads), other seeds and other design choices, so
that a model tuned on `masklet generate`'s videos is judged on what it was not tuned on.

shapes   parametric outlines (ellipses, polygons, stars, superellipses, blobs) filled with
         procedural textures (stripes, checks, gradients, smooth noise), over procedural or
         texture-photo backgrounds; some sequences hold an unannotated look-alike of an
         object, some colour their objects like the background.
cutouts  pieces of real photos cut along smooth random outlines, moving over a photo;
         some are cut from the very photo they move over (objects like the background).

Every sequence: 640x360, 16 frames, 1-3 objects of 1% to 30% of the frame (log-uniform),
each slow or fast, growing or shrinking and turning a little, over a still or panning
background, drawn in depth order (they occlude one another). DAVIS layout on disk.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = Path(__file__).parent / "photos"
FAMILIES = ("shapes", "cutouts")
SEED_BASE = {"shapes": 9_100_000, "cutouts": 9_200_000}  # far from the training generator's seeds
SIZE_BUCKETS = ((0.0, 0.03, "< 3%"), (0.03, 0.10, "3-10%"), (0.10, 1.01, ">= 10%"))


@dataclass(frozen=True)
class FamilySpec:
    width: int = 640
    height: int = 360
    frames: int = 16
    min_objects: int = 1
    max_objects: int = 3
    min_area: float = 0.01  # of the frame
    max_area: float = 0.30


@cache
def photos() -> dict[str, np.ndarray]:
    """The family photos as (H, W, 3) uint8 (grey ones repeated to three channels)."""
    out = {}
    for path in sorted(PHOTOS.glob("*.jpg")):
        array = np.asarray(Image.open(path).convert("RGB"))
        out[path.stem] = array
    return out


GREY_PHOTOS = ("camera", "brick", "grass", "gravel")


# -- outlines --------------------------------------------------------------------------


def _radius(kind: str, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The outline's distance from its centre at angle `theta` (largest about 1)."""
    if kind == "ellipse":
        a, b = 1.0, rng.uniform(0.35, 1.0)
        return a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    if kind == "polygon":
        n = int(rng.integers(3, 9))
        sector = 2 * math.pi / n
        return math.cos(math.pi / n) / np.cos(np.mod(theta, sector) - sector / 2)
    if kind == "star":
        n, depth = int(rng.integers(4, 9)), rng.uniform(0.25, 0.55)
        phase = np.abs(np.mod(theta * n / (2 * math.pi), 1.0) - 0.5) * 2  # 1 at the tips, 0 between
        return 1 - depth * (1 - phase)
    if kind == "superellipse":
        p, stretch = rng.uniform(0.7, 4.0), rng.uniform(0.5, 1.0)
        c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta)) / stretch
        return (c**p + s**p) ** (-1 / p) / max(1.0, 1 / stretch)
    # a blob: a few low harmonics on a circle
    r = np.ones_like(theta)
    for k in range(2, 6):
        r += rng.uniform(0, 0.3 / k) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    return r / r.max()


def outline(kind: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """A (side, side) bool mask of one outline, turned by a random angle."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    c = (side - 1) / 2
    dx, dy = (x - c) / (side / 2), (y - c) / (side / 2)
    theta = np.arctan2(dy, dx) + rng.uniform(0, 2 * math.pi)
    return np.hypot(dx, dy) <= _radius(kind, theta, rng)


# -- textures and backgrounds ----------------------------------------------------------


def smooth_noise(h: int, w: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w) values in [0, 1] varying smoothly over about `cells` cells a side."""
    grid = rng.random((cells + 1, max(2, round(cells * w / h)) + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC)).clip(0, 1)


def texture(h: int, w: int, colours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) uint8: stripes, checks, a gradient or smooth noise between two colours."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.choice(["stripes", "checks", "gradient", "noise"])
    if kind == "stripes":
        angle, period = rng.uniform(0, math.pi), rng.uniform(6, 30)
        t = (np.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period) > 0).astype(np.float32)
    elif kind == "checks":
        cell = rng.uniform(6, 24)
        t = ((np.floor(x / cell) + np.floor(y / cell)) % 2).astype(np.float32)
    elif kind == "gradient":
        t = np.hypot(x - rng.uniform(0, w), y - rng.uniform(0, h))
        t = t / max(t.max(), 1.0)
    else:
        t = smooth_noise(h, w, int(rng.integers(2, 8)), rng)
    mixed = colours[0] * (1 - t[..., None]) + colours[1] * t[..., None]
    return (mixed + rng.normal(0, 4, mixed.shape)).clip(0, 255).astype(np.uint8)


def photo_canvas(name: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A photo scaled to cover (h, w), a random crop of it; grey photos tinted."""
    photo = photos()[name].astype(np.float32)
    if name in GREY_PHOTOS:
        photo = photo * rng.uniform(0.5, 1.2, 3)
    ph, pw = photo.shape[:2]
    scale = max(h / ph, w / pw) * rng.uniform(1.0, 1.3)
    size = (max(w, math.ceil(pw * scale)), max(h, math.ceil(ph * scale)))
    big = np.asarray(Image.fromarray(photo.clip(0, 255).astype(np.uint8)).resize(size, Image.BILINEAR))
    top, left = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
    return big[top : top + h, left : left + w]


# -- sequences -------------------------------------------------------------------------


@dataclass
class Sprite:
    rgb: np.ndarray  # (s, s, 3) uint8
    mask: np.ndarray  # (s, s) bool
    centre: np.ndarray  # (2,) x, y in frame pixels at frame 0
    velocity: np.ndarray  # (2,) pixels per frame
    growth: float  # scale change over the clip
    turn: float  # degrees per frame
    label: int  # 0: an unannotated distractor


def _sprite_side(area: float, mask_fill: float, spec: FamilySpec) -> int:
    return max(8, round(math.sqrt(area * spec.width * spec.height / max(mask_fill, 0.05))))


def _motion(rng: np.random.Generator, spec: FamilySpec) -> np.ndarray:
    fast = rng.random() < 0.5
    speed = spec.width * (rng.uniform(0.025, 0.06) if fast else rng.uniform(0.003, 0.015))
    angle = rng.uniform(0, 2 * math.pi)
    return np.array([math.cos(angle), math.sin(angle)]) * speed


def make_sequence(family: str, seed: int, spec: FamilySpec = FamilySpec()) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One sequence of a family: frames (H, W, 3) uint8 and label maps (H, W) uint8."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}: one of {FAMILIES}")
    rng = np.random.default_rng(SEED_BASE[family] + seed)
    h, w, n = spec.height, spec.width, spec.frames
    pan = rng.uniform(0, 6, 2) * rng.choice([-1, 1], 2) if rng.random() < 0.6 else np.zeros(2)  # px per frame
    margin = np.ceil(np.abs(pan) * n).astype(int) + 1
    canvas_h, canvas_w = h + margin[1], w + margin[0]
    names = list(photos())
    if family == "shapes" and rng.random() < 0.5:
        base = rng.uniform(0, 255, (2, 3))
        background = texture(canvas_h, canvas_w, base, rng)
    else:
        background = photo_canvas(str(rng.choice(GREY_PHOTOS if family == "shapes" else names)), canvas_h, canvas_w, rng)
    mean_colour = background.reshape(-1, 3).mean(0)
    camouflage = rng.random() < 0.3

    sprites: list[Sprite] = []
    count = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    for label in range(1, count + 1):
        area = math.exp(rng.uniform(math.log(spec.min_area), math.log(spec.max_area)))
        kind = str(rng.choice(["ellipse", "polygon", "star", "superellipse", "blob"])) if family == "shapes" else "blob"
        probe = outline(kind, 64, np.random.default_rng(rng.integers(1 << 31)))
        side = _sprite_side(area, probe.mean(), spec)
        mask = outline(kind, side, np.random.default_rng(rng.integers(1 << 31)))
        if family == "shapes":
            colours = (mean_colour + rng.normal(0, 25, (2, 3))) if camouflage else rng.uniform(0, 255, (2, 3))
            rgb = texture(side, side, colours.clip(0, 255), rng)
        elif camouflage:  # cut from the background itself: the object looks like what it moves over
            top, left = int(rng.integers(0, max(1, canvas_h - side))), int(rng.integers(0, max(1, canvas_w - side)))
            rgb = np.asarray(Image.fromarray(background).resize((max(canvas_w, side), max(canvas_h, side))))[top : top + side, left : left + side]
        else:
            rgb = photo_canvas(str(rng.choice(names)), side, side, rng)
        centre = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
        sprites.append(Sprite(rgb, mask, centre, _motion(rng, spec), rng.uniform(-0.25, 0.25), rng.uniform(-2, 2), label))
    if family == "shapes" and rng.random() < 0.4:  # an unannotated look-alike of object 1
        twin = sprites[0]
        centre = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
        sprites.insert(int(rng.integers(0, len(sprites) + 1)), Sprite(twin.rgb, twin.mask, centre, _motion(rng, spec), 0.0, 0.0, 0))
    rng.shuffle(sprites)  # depth order: later ones in front

    frames, labels = [], []
    for t in range(n):
        offset = np.round(np.where(pan < 0, margin - 1, 0) + pan * t).astype(int)
        frame = background[offset[1] : offset[1] + h, offset[0] : offset[0] + w].copy()
        label_map = np.zeros((h, w), np.uint8)
        for s in sprites:
            scale = 1 + s.growth * t / max(n - 1, 1)
            side = max(4, round(s.mask.shape[0] * scale))
            rgb = Image.fromarray(s.rgb).resize((side, side), Image.BILINEAR).rotate(s.turn * t, Image.BILINEAR)
            mask = Image.fromarray(s.mask.astype(np.uint8) * 255).resize((side, side), Image.BILINEAR).rotate(s.turn * t, Image.BILINEAR)
            centre = _bounced(s.centre + s.velocity * t, w, h)
            _paste(frame, label_map, np.asarray(rgb), np.asarray(mask) >= 128, centre, s.label)
        frames.append(frame)
        labels.append(label_map)
    return frames, labels


def _bounced(position: np.ndarray, w: int, h: int) -> np.ndarray:
    """A position that moves on past the frame's edges reflected back into it."""
    out = []
    for value, size in zip(position, (w, h)):
        period = 2 * size
        value = value % period
        out.append(period - value if value > size else value)
    return np.array(out)


def _paste(frame: np.ndarray, labels: np.ndarray, rgb: np.ndarray, mask: np.ndarray, centre: np.ndarray, label: int) -> None:
    h, w = labels.shape
    side = mask.shape[0]
    top, left = round(centre[1] - side / 2), round(centre[0] - side / 2)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + side, h), min(left + side, w)
    if y0 >= y1 or x0 >= x1:
        return
    m = mask[y0 - top : y1 - top, x0 - left : x1 - left]
    frame[y0:y1, x0:x1][m] = rgb[y0 - top : y1 - top, x0 - left : x1 - left][m]
    labels[y0:y1, x0:x1][m] = label


def write_family(out: str | os.PathLike, family: str, count: int, spec: FamilySpec = FamilySpec(), first: int = 0) -> list[str]:
    """Write `count` sequences of a family in the DAVIS layout under `out`; their names.
    A sequence with an object under 0.4% of frame 0 (hidden behind another, past the
    edge) is replaced by the next seed."""
    from ..masks_io import save_label_png

    out = Path(out)
    names, seed = [], first
    while len(names) < count:
        frames, labels = make_sequence(family, seed, spec)
        seed += 1
        present = {int(v) for v in np.unique(labels[0]) if v}
        wanted = {int(v) for lab in labels for v in np.unique(lab) if v}
        least = 0.004 * spec.width * spec.height
        if not present or present != wanted or min(np.count_nonzero(labels[0] == v) for v in present) < least:
            continue  # an object (mostly) hidden on the prompted frame: no fair prompt for it
        name = f"{family}-{seed - 1:04d}"
        (out / "JPEGImages" / name).mkdir(parents=True, exist_ok=True)
        (out / "Annotations" / name).mkdir(parents=True, exist_ok=True)
        for t, (frame, label) in enumerate(zip(frames, labels)):
            Image.fromarray(frame).save(out / "JPEGImages" / name / f"{t:05d}.jpg", quality=92)
            save_label_png(label, out / "Annotations" / name / f"{t:05d}.png")
        names.append(name)
    return names


def size_bucket(area: float) -> str:
    """The object-size bucket of a first-frame area (a fraction of the frame)."""
    for low, high, name in SIZE_BUCKETS:
        if low <= area < high:
            return name
    return SIZE_BUCKETS[-1][2]
