"""Procedurally generated videos with exact masks, written in the DAVIS layout.

Several objects (textured shapes, and cut-outs of real photo regions) move with smooth
affine motion (translation, rotation, scale) over a real background (a crop of a shared
photo or video frame) that itself pans and zooms. Objects occlude each other, leave and
re-enter the frame; look-alike distractors (unannotated copies of an object's
appearance) and, when asked for, clutter (unannotated objects of their own) move among
them. Everything is a pure function of the seed; the training and held-out splits draw
their backgrounds from disjoint sources and their seeds from disjoint ranges.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import atomic_path
from ..errors import BadInput, NotFound
from ..palette import PALETTE

# The photos and frames the generator draws from, packaged (the shared data's files).
BACKGROUNDS = Path(__file__).parent / "backgrounds"

SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}


@dataclass(frozen=True)
class GeneratorConfig:
    width: int = 320
    height: int = 192
    num_frames: int = 16
    min_objects: int = 1
    max_objects: int = 3
    max_distractors: int = 1
    # An object's side as a fraction of the frame's shorter side, drawn uniformly, or
    # log-uniformly (as many small objects as large ones) when log_size is set.
    object_size: tuple[float, float] = (0.3, 0.55)
    log_size: bool = False
    # Speed in percent of the frame's shorter side per frame.
    speed: tuple[float, float] = (1.0, 4.0)
    # Share of photo cut-outs taken from the very photo they move over (camouflage).
    camouflage: float = 0.0
    # Each object's brightness drifts by up to this fraction over the sequence, and the
    # whole frame's by half as much (light changes; 0: constant appearance).
    appearance_change: float = 0.0
    # Share of objects that are photo cut-outs; the rest are textures, which no photo
    # background resembles, so they are far easier to track than cut-outs.
    cutouts: float = 0.5
    # At most this many unannotated objects of their own appearance (textures and cut-outs
    # alike), so that a texture on a frame is not by itself a sign of the prompted object.
    max_clutter: int = 0
    # A cut-out is taken from a square of its photo this many times the object's side
    # (log-uniform), shrunk to the object: 1 keeps the photo's own scale (a smooth patch),
    # larger factors pack more of the photo into the object (down to a whole photo in
    # miniature), so objects show detail at many scales. Camouflaged cut-outs are zoomed
    # too, so they share their background's look but not always its scale.
    cutout_zoom: tuple[float, float] = (1.0, 1.0)
    # The camera's view as a share of the background photo's width, drawn uniformly for
    # the first and the last frame (it zooms smoothly between them).
    background_zoom: tuple[float, float] = (0.5, 0.9)


# The wider variety masklet-nano's second recipe trains on: objects of ~1% to ~30% of the
# frame, slow to fast, camouflaged ones, changing light (issue 22).
WIDE = GeneratorConfig(object_size=(0.15, 1.0), log_size=True, speed=(0.5, 10.0), camouflage=0.3, appearance_change=0.3)


def background_sources(data_root: str | os.PathLike, split: str) -> list[Path]:
    """Real images for backgrounds: training and held-out splits use different ones."""
    root = Path(data_root)
    photos = sorted((root / "images").glob("*.jpg"))
    # Every tenth frame of the 200-frame bedroom clip: the first half trains, the second not.
    frames = sorted(p for p in (root / "videos" / "bedroom").glob("*.jpg") if p.stem.isdigit() and int(p.stem) % 10 == 0)
    if not photos and not frames:
        raise NotFound(f"no photos (images/*.jpg) or frames (videos/bedroom/*.jpg) under {root}: "
                       f"point data_root at the shared data folder, or leave it out for the packaged ones")
    if split == "train":
        return photos[:1] + [p for p in frames if int(p.stem) < 100]
    return photos[1:] + [p for p in frames if int(p.stem) >= 100]


def photos_in(folder: str | os.PathLike) -> list[Path]:
    """The photos (*.jpg, *.jpeg, *.png) of a folder, sorted; at least one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"no folder {folder}: give a folder of photos (scripts/fetch_backgrounds.py writes one)")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise NotFound(f"no photos (*.jpg, *.jpeg, *.png) in {folder}")
    return photos


class _Sprite:
    """An object's appearance (RGB + mask) and its motion over time."""

    def __init__(
        self, rng: np.random.Generator, sources: list[Image.Image], cfg: GeneratorConfig, appearance=None, background: Image.Image | None = None
    ) -> None:
        low, high = cfg.object_size
        u = rng.random()
        size = int((low * (high / low) ** u if cfg.log_size else low + (high - low) * u) * min(cfg.width, cfg.height))
        size = max(size, 8)
        if appearance is None and background is not None and cfg.camouflage > 0 and rng.random() < cfg.camouflage:
            sources = [background]  # cut from the photo it moves over
        self.rgb, self.mask = appearance or _appearance(rng, sources, size, cfg.cutouts, cfg.cutout_zoom)
        # Smooth motion: position, velocity and a gentle curve; rotation and scale drift.
        self.p0 = rng.uniform([-0.1, 0.1], [1.1, 0.9]) * [cfg.width, cfg.height]
        speed = rng.uniform(*cfg.speed) * min(cfg.width, cfg.height) / 100
        angle = rng.uniform(0, 2 * math.pi)
        self.v = speed * np.array([math.cos(angle), math.sin(angle)])
        self.a = rng.normal(0, 0.05, 2) * speed
        self.rot0, self.rot_v = rng.uniform(-30, 30), rng.uniform(-3, 3)
        self.s0, self.s_v = rng.uniform(0.8, 1.2), rng.uniform(-0.02, 0.02)
        # Brightness at the end of the sequence relative to the start (1: unchanged).
        self.gain = rng.uniform(1 - cfg.appearance_change, 1 + cfg.appearance_change) if cfg.appearance_change > 0 else 1.0
        self.last_frame = max(cfg.num_frames - 1, 1)

    def pose(self, t: int) -> tuple[np.ndarray, float, float]:
        centre = self.p0 + self.v * t + 0.5 * self.a * t * t
        return centre, self.rot0 + self.rot_v * t, max(0.3, self.s0 + self.s_v * t)

    def render(self, t: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The sprite placed on a (W, H) canvas at time t: RGB and boolean mask."""
        centre, rot, scale = self.pose(t)
        h, w = self.mask.shape
        theta = math.radians(rot)
        cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
        # Inverse affine map: canvas pixel -> sprite pixel.
        cx, cy = centre
        coeffs = (cos, sin, w / 2 - cos * cx - sin * cy, -sin, cos, h / 2 + sin * cx - cos * cy)
        rgb = Image.fromarray(self.rgb).transform(size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
        mask = Image.fromarray(self.mask.astype(np.uint8) * 255).transform(size, Image.Transform.AFFINE, coeffs, Image.Resampling.NEAREST)
        rgb = np.asarray(rgb)
        if self.gain != 1.0:
            rgb = _brighten(rgb, 1 + (self.gain - 1) * t / self.last_frame)  # as the frame's light drifts
        return rgb, np.asarray(mask) > 127


def _brighten(rgb: np.ndarray, factor: float) -> np.ndarray:
    return (rgb.astype(np.float32) * factor).clip(0, 255).astype(np.uint8)


def _appearance(rng: np.random.Generator, sources: list[Image.Image], size: int, cutouts: float = 0.5,
                zoom: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    mask_img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask_img)
    kind = rng.integers(0, 3)
    if kind == 0:
        draw.ellipse([size * 0.1, size * rng.uniform(0.1, 0.3), size * 0.9, size * rng.uniform(0.7, 0.9)], fill=255)
    else:
        n = int(rng.integers(3, 9))
        radii = rng.uniform(0.25, 0.48, n) * size if kind == 1 else np.tile([0.48 * size, 0.2 * size], n)[:n]
        angles = np.sort(rng.uniform(0, 2 * math.pi, n)) if kind == 1 else np.linspace(0, 2 * math.pi, n, endpoint=False)
        draw.polygon([(size / 2 + r * math.cos(a), size / 2 + r * math.sin(a)) for r, a in zip(radii, angles)], fill=255)
    mask = np.asarray(mask_img) > 0
    if rng.random() < cutouts:
        # A cut-out of a real photo region.
        src = sources[int(rng.integers(len(sources)))]
        side = size
        if zoom != (1.0, 1.0):  # drawn only when asked for, so that other sequences keep their draws
            factor = zoom[0] * (zoom[1] / zoom[0]) ** rng.random()
            side = max(size, min(round(size * factor), src.width, src.height))
        x, y = rng.integers(0, max(src.width - side, 1)), rng.integers(0, max(src.height - side, 1))
        rgb = np.asarray(src.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0))
    else:
        # A texture: stripes or checks in two random colours, with noise.
        c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        yy, xx = np.mgrid[0:size, 0:size]
        period = rng.uniform(6, 20)
        pattern = (np.sin(xx / period * 2 * math.pi + rng.uniform(0, 6)) > 0) if rng.random() < 0.5 else ((xx // period + yy // period) % 2 == 0)
        rgb = np.where(pattern[..., None], c1, c2) + rng.normal(0, 12, (size, size, 3))
        rgb = rgb.clip(0, 255).astype(np.uint8)
    return rgb, mask


@functools.lru_cache(maxsize=128)
def _open(path: Path) -> Image.Image:
    # Decoded once per process: every sequence draws from all the sources.
    return Image.open(path).convert("RGB")


def generate_sequence(seed: int, sources: list[Path], cfg: GeneratorConfig = GeneratorConfig()) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames (H, W, 3) uint8 and label maps (H, W) uint8 (object k = k) of one sequence."""
    rng = np.random.default_rng(seed)
    images = [_open(p) for p in sources]
    bg = images[int(rng.integers(len(images)))]
    # The camera: a crop window that pans and zooms smoothly over the background.
    zoom0, zoom1 = rng.uniform(*cfg.background_zoom, 2)
    x0, y0 = rng.uniform(0, 1, 2)
    x1, y1 = np.clip([x0, y0] + rng.normal(0, 0.2, 2), 0, 1)
    objects = [_Sprite(rng, images, cfg, background=bg) for _ in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1)))]
    light = rng.uniform(1 - cfg.appearance_change / 2, 1 + cfg.appearance_change / 2) if cfg.appearance_change > 0 else 1.0
    distractors = [
        _Sprite(rng, images, cfg, appearance=(objects[i].rgb, objects[i].mask))
        for i in rng.integers(0, len(objects), int(rng.integers(0, cfg.max_distractors + 1)))
    ]
    # Drawn only when asked for, so that sequences without clutter keep their draws.
    clutter = [_Sprite(rng, images, cfg) for _ in range(int(rng.integers(0, cfg.max_clutter + 1)))] if cfg.max_clutter else []
    layers = [(k + 1, s) for k, s in enumerate(objects)] + [(0, s) for s in distractors + clutter]
    order = rng.permutation(len(layers))  # depth order: later layers occlude earlier ones
    frames, labels = [], []
    for t in range(cfg.num_frames):
        f = t / max(cfg.num_frames - 1, 1)
        zoom = zoom0 + (zoom1 - zoom0) * f
        cw, ch = bg.width * zoom, bg.width * zoom * cfg.height / cfg.width
        ch = min(ch, bg.height)
        cx = (x0 + (x1 - x0) * f) * (bg.width - cw)
        cy = (y0 + (y1 - y0) * f) * (bg.height - ch)
        frame = np.array(bg.resize((cfg.width, cfg.height), Image.Resampling.BILINEAR, box=(cx, cy, cx + cw, cy + ch)))
        label = np.zeros((cfg.height, cfg.width), dtype=np.uint8)
        for i in order:
            obj_id, sprite = layers[i]
            rgb, mask = sprite.render(t, (cfg.width, cfg.height))
            frame[mask] = rgb[mask]
            label[mask] = obj_id  # a distractor (id 0) erases what it covers
        if light != 1.0:
            frame = _brighten(frame, 1 + (light - 1) * f)
        frames.append(frame)
        labels.append(label)
    return frames, labels


def write_dataset(
    out: str | os.PathLike,
    split: str,
    num_sequences: int,
    data_root: str | os.PathLike,
    cfg: GeneratorConfig = GeneratorConfig(),
    first: int = 0,
    extra_backgrounds: str | os.PathLike | None = None,
) -> Path:
    """Write sequences first .. first+num_sequences-1 of a split in the DAVIS layout under `out`.

    `extra_backgrounds`: a folder of further photos (*.jpg, *.png) for backgrounds and
    cut-outs, beside the split's own.

    A sequence depends only on its split and index, so several processes may each write a
    range of one dataset into the same folder.
    """
    if split not in SPLIT_SEED_BASE:
        raise BadInput(f"split must be one of {sorted(SPLIT_SEED_BASE)}, got {split!r}")
    if first < 0:
        raise BadInput(f"first must be 0 or more, got {first}")
    out = Path(out)
    sources = background_sources(data_root, split)
    if extra_backgrounds is not None:
        sources += photos_in(extra_backgrounds)
    for i in range(first, first + num_sequences):
        seed = SPLIT_SEED_BASE[split] + i
        name = f"{split}_{seed:07d}"
        frames, labels = generate_sequence(seed, sources, cfg)
        for t, (frame, label) in enumerate(zip(frames, labels)):
            for kind, ext in (("JPEGImages", "jpg"), ("Annotations", "png")):
                (out / kind / name).mkdir(parents=True, exist_ok=True)
            with atomic_path(out / "JPEGImages" / name / f"{t:05d}.jpg") as tmp:
                Image.fromarray(frame).save(tmp, format="JPEG", quality=92)
            png = Image.fromarray(label, mode="P")
            png.putpalette(PALETTE)
            with atomic_path(out / "Annotations" / name / f"{t:05d}.png") as tmp:
                png.save(tmp, format="PNG")
    return out
