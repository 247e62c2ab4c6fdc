"""The video data generator: deterministic, exact masks, the DAVIS layout, disjoint splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from masklet.data.generator import GeneratorConfig, background_sources, generate_sequence, write_dataset
from masklet.data.davis import read_annotation

CFG = GeneratorConfig(width=160, height=96, num_frames=12, min_objects=2, max_objects=3)


def test_deterministic_by_seed(shared_data: Path) -> None:
    src = background_sources(shared_data, "train")
    a_frames, a_labels = generate_sequence(7, src, CFG)
    b_frames, b_labels = generate_sequence(7, src, CFG)
    c_frames, _ = generate_sequence(8, src, CFG)
    assert all(np.array_equal(x, y) for x, y in zip(a_frames, b_frames))
    assert all(np.array_equal(x, y) for x, y in zip(a_labels, b_labels))
    assert not np.array_equal(a_frames[0], c_frames[0])
    assert a_frames[0].shape == (96, 160, 3) and a_labels[0].dtype == np.uint8


def test_objects_move_occlude_and_leave(shared_data: Path) -> None:
    src = background_sources(shared_data, "train")
    moved = occluded_or_left = 0
    for seed in range(6):
        _, labels = generate_sequence(seed, src, CFG)
        ids = sorted(set(np.unique(labels[0])) - {0})
        assert 1 in ids or any(1 in np.unique(lab) for lab in labels)
        for k in ids:
            areas = [int((lab == k).sum()) for lab in labels]
            centres = [np.argwhere(lab == k).mean(0) for lab in labels if (lab == k).any()]
            moved += np.linalg.norm(centres[-1] - centres[0]) > 5 if len(centres) > 1 else 0
            occluded_or_left += min(areas) < 0.5 * max(areas)
    assert moved >= 3 and occluded_or_left >= 1


def test_splits_use_other_backgrounds_and_write_davis(shared_data: Path, tmp_path: Path) -> None:
    assert not set(background_sources(shared_data, "train")) & set(background_sources(shared_data, "val"))
    write_dataset(tmp_path, "val", 2, shared_data, CFG)
    seqs = sorted(p.name for p in (tmp_path / "JPEGImages").iterdir())
    assert seqs == ["val_1000000", "val_1000001"]
    frames = sorted((tmp_path / "JPEGImages" / seqs[0]).glob("*.jpg"))
    anns = sorted((tmp_path / "Annotations" / seqs[0]).glob("*.png"))
    assert len(frames) == len(anns) == 12
    assert Image.open(anns[0]).mode == "P" and read_annotation(anns[0]).max() >= 1


def test_a_range_written_apart_equals_the_whole(shared_data: Path, tmp_path: Path) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    write_dataset(whole, "train", 3, shared_data, CFG)
    write_dataset(parts, "train", 1, shared_data, CFG, first=2)  # e.g. another process's share
    write_dataset(parts, "train", 2, shared_data, CFG)
    for kind, pattern in (("JPEGImages", "*.jpg"), ("Annotations", "*.png")):
        a, b = sorted((whole / kind).rglob(pattern)), sorted((parts / kind).rglob(pattern))
        assert [p.relative_to(whole) for p in a] == [p.relative_to(parts) for p in b] and len(a) == 3 * 12
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))


def test_the_packaged_backgrounds_generate_what_the_shared_data_does(tmp_path: Path, shared_data: Path) -> None:
    """An installed masklet (no shared folder beside it) generates the same datasets."""
    import subprocess
    import sys

    from masklet.data.generator import BACKGROUNDS

    for split in ("train", "val"):
        packaged = [p.relative_to(BACKGROUNDS) for p in background_sources(BACKGROUNDS, split)]
        assert packaged == [p.relative_to(shared_data) for p in background_sources(shared_data, split)] and packaged
    args = [sys.executable, "-m", "masklet", "generate", "-n", "1", "--frames", "3", "--size", "96x64", "--split", "val"]
    assert subprocess.run([*args, str(tmp_path / "a")], capture_output=True).returncode == 0
    assert subprocess.run([*args, str(tmp_path / "b"), "--data-root", str(shared_data)], capture_output=True).returncode == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 6
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_the_default_variety_is_unchanged_by_the_wide_options(shared_data: Path) -> None:
    """The wide options draw no random numbers when off, so the first recipe's data stays the same."""
    from dataclasses import replace

    src = background_sources(shared_data, "train")
    plain = generate_sequence(5, src, CFG)
    off = generate_sequence(5, src, replace(CFG, camouflage=0.0, appearance_change=0.0, log_size=False))
    assert all(np.array_equal(a, b) for a, b in zip(plain[0] + plain[1], off[0] + off[1]))
    wide = generate_sequence(5, src, replace(CFG, camouflage=1.0, appearance_change=0.3))
    assert not np.array_equal(plain[0][0], wide[0][0])


def test_wide_variety_spans_sizes_and_speeds(shared_data: Path) -> None:
    from dataclasses import replace

    from masklet.data.generator import WIDE

    src = background_sources(shared_data, "train")
    cfg = replace(WIDE, width=320, height=192, num_frames=3, max_distractors=0)
    areas, speeds = [], []
    for seed in range(30):
        _, labels = generate_sequence(seed, src, cfg)
        for k in sorted(set(np.unique(labels[0])) - {0}):
            areas.append((labels[0] == k).mean())
            a, b = np.argwhere(labels[0] == k), np.argwhere(labels[1] == k)
            if len(b) and areas[-1] > 0.005:
                speeds.append(np.linalg.norm(b.mean(0) - a.mean(0)) / 192)
    assert min(areas) < 0.01 and max(areas) > 0.2, (min(areas), max(areas))
    assert min(speeds) < 0.01 and max(speeds) > 0.06, (min(speeds), max(speeds))


def test_camouflaged_objects_are_cut_from_their_background(shared_data: Path) -> None:
    """With camouflage on, photo cut-outs come from the photo the object moves over."""
    from dataclasses import replace

    from masklet.data.generator import _Sprite

    photos = [Image.open(p).convert("RGB") for p in background_sources(shared_data, "train")]
    background = Image.new("RGB", (600, 400), (1, 2, 3))  # a colour no photo or texture has everywhere

    def from_background(camouflage: float) -> int:
        rng = np.random.default_rng(0)
        sprites = [_Sprite(rng, photos, replace(CFG, camouflage=camouflage), background=background) for _ in range(20)]
        return sum(bool((s.rgb == (1, 2, 3)).all()) for s in sprites)

    assert from_background(0.0) == 0
    assert from_background(1.0) >= 5  # the photo cut-outs (about half; the rest are textures)


def test_extra_backgrounds_folder(shared_data: Path, tmp_path: Path) -> None:
    import pytest

    from masklet.data.generator import photos_in
    from masklet.errors import NotFound

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (400, 300), (250, 10, 10)).save(photos / "red.jpg")
    (photos / "notes.txt").write_text("not a photo")
    assert photos_in(photos) == [photos / "red.jpg"]
    with pytest.raises(NotFound, match="no photos"):
        photos_in(tmp_path)  # only a folder in it
    write_dataset(tmp_path / "out", "train", 2, shared_data, CFG, extra_backgrounds=photos)
    assert len(list((tmp_path / "out" / "JPEGImages").iterdir())) == 2


def test_cutout_share(shared_data: Path) -> None:
    """`cutouts` sets the share of photo cut-outs among objects; the default keeps the old draws."""
    from dataclasses import replace

    from masklet.data.generator import _Sprite

    photos = [Image.open(p).convert("RGB") for p in background_sources(shared_data, "train")]
    background = Image.new("RGB", (600, 400), (1, 2, 3))

    def cut_from_background(cutouts: float) -> int:
        rng = np.random.default_rng(1)
        cfg = replace(CFG, camouflage=1.0, cutouts=cutouts)
        sprites = [_Sprite(rng, photos, cfg, background=background) for _ in range(40)]
        return sum(bool((s.rgb == (1, 2, 3)).all()) for s in sprites)

    assert cut_from_background(0.0) == 0
    assert cut_from_background(1.0) == 40
    assert 8 <= cut_from_background(0.5) <= 32
    src = background_sources(shared_data, "train")
    plain, same = generate_sequence(7, src, CFG), generate_sequence(7, src, replace(CFG, cutouts=0.5))
    assert all(np.array_equal(a, b) for a, b in zip(plain[0], same[0]))


def test_clutter_is_unannotated_and_keeps_default_draws(shared_data: Path) -> None:
    """Clutter changes pixels but never the labels' object ids; without it the draws are unchanged."""
    from dataclasses import replace

    src = background_sources(shared_data, "train")
    plain = generate_sequence(11, src, CFG)
    assert all(np.array_equal(a, b) for a, b in zip(plain[0], generate_sequence(11, src, replace(CFG, max_clutter=0))[0]))
    changed = 0
    for seed in range(11, 17):
        frames, labels = generate_sequence(seed, src, CFG)
        cluttered, cluttered_labels = generate_sequence(seed, src, replace(CFG, max_clutter=4))
        ids = set(np.unique(np.stack(labels)).tolist())
        assert set(np.unique(np.stack(cluttered_labels)).tolist()) <= ids  # no new object ids
        changed += not all(np.array_equal(a, b) for a, b in zip(frames, cluttered))
    assert changed >= 3  # clutter (0-4 of it per sequence) shows on most sequences


def test_cutout_zoom_packs_more_of_a_photo_into_an_object(shared_data: Path) -> None:
    """A zoomed cut-out is a larger square of its photo shrunk to the object: finer detail
    (more change from pixel to pixel) than the patch at the photo's own scale; the default
    draws stay as they were."""
    from dataclasses import replace

    from masklet.data.generator import _appearance

    photos = [Image.open(p).convert("RGB") for p in background_sources(shared_data, "train")]

    def detail(zoom: tuple[float, float]) -> float:
        rng = np.random.default_rng(3)
        values = []
        for _ in range(30):
            rgb, mask = _appearance(rng, photos, 48, cutouts=1.0, zoom=zoom)
            assert rgb.shape == (48, 48, 3) and mask.shape == (48, 48)
            values.append(np.abs(np.diff(rgb.astype(np.float32), axis=1)).mean())
        return float(np.mean(values))

    assert detail((6.0, 8.0)) > 1.5 * detail((1.0, 1.0))

    class Counting:  # a generator that notes each draw by name
        def __init__(self, seed: int) -> None:
            self.rng, self.calls = np.random.default_rng(seed), []

        def __getattr__(self, name: str):
            self.calls.append(name)
            return getattr(self.rng, name)

    draws = {}
    for zoom in ((1.0, 1.0), (2.0, 4.0)):
        counting = Counting(4)
        _appearance(counting, photos, 48, cutouts=1.0, zoom=zoom)
        draws[zoom] = counting.calls
    assert draws[(2.0, 4.0)].count("random") == draws[(1.0, 1.0)].count("random") + 1  # the zoom's one draw, only when on
    src = background_sources(shared_data, "train")
    cut = replace(CFG, cutouts=1.0)
    plain, zoomed = generate_sequence(9, src, cut), generate_sequence(9, src, replace(cut, cutout_zoom=(4.0, 8.0)))
    assert not np.array_equal(plain[0][0], zoomed[0][0])


def test_background_zoom_sets_how_much_of_the_photo_shows(tmp_path: Path) -> None:
    """The camera's view spans that share of the photo's width: over a left-to-right ramp,
    the background's values span as much of the ramp."""
    from dataclasses import replace

    ramp = np.tile(np.linspace(0, 255, 1200, dtype=np.float32)[None, :, None], (600, 1, 3)).astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    cfg = replace(CFG, min_objects=1, max_objects=1, max_distractors=0)
    for zoom in ((0.2, 0.25), (0.5, 0.55), (0.95, 1.0)):
        for seed in range(3):
            frames, labels = generate_sequence(seed, [tmp_path / "ramp.png"], replace(cfg, background_zoom=zoom))
            background = frames[0][..., 0][labels[0] == 0].astype(np.float32)
            span = (background.max() - background.min()) / 255
            assert zoom[0] - 0.03 <= span <= zoom[1] + 0.03, (zoom, seed, span)


def test_generate_refuses_bad_zoom_ranges(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from masklet.cli import main

    refused = (("--cutout-zoom", "0.5-2"), ("--cutout-zoom", "4-2"), ("--cutout-zoom", "1-inf"), ("--cutout-zoom", "nan-2"),
               ("--background-zoom", "0.5-1.5"), ("--background-zoom", "x"))
    for option, value in refused:
        result = CliRunner().invoke(main, ["generate", str(tmp_path / "out"), "-n", "1", option, value])
        assert result.exit_code == 2 and option in result.output, (option, value, result.output)
    assert not (tmp_path / "out").exists()
