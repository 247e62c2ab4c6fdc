"""The independent test families: deterministic, other code and photos than training's,
objects of every size bucket visible on the prompted frame; `masklet eval` on a folder of
families gives J&F per family and per size beside both baselines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from masklet.eval.families import FAMILIES, PHOTOS, FamilySpec, make_sequence, size_bucket, write_family

SRC = Path(__file__).resolve().parents[2] / "src" / "masklet"


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_is_deterministic_and_varied(family: str) -> None:
    frames, labels = make_sequence(family, 3, FamilySpec(frames=6))
    again, labels_again = make_sequence(family, 3, FamilySpec(frames=6))
    assert all(np.array_equal(a, b) for a, b in zip(frames, again)) and all(np.array_equal(a, b) for a, b in zip(labels, labels_again))
    assert frames[0].shape == (360, 640, 3) and labels[0].shape == (360, 640)
    other, _ = make_sequence(family, 4, FamilySpec(frames=6))
    assert not np.array_equal(frames[0], other[0])
    assert not np.array_equal(frames[0], frames[-1]), "nothing moves"
    areas, speeds = [], []
    for seed in range(24):
        _, labs = make_sequence(family, seed, FamilySpec(frames=3))
        for obj in (int(v) for v in np.unique(labs[0]) if v):
            areas.append((labs[0] == obj).mean())
            ys, xs = np.nonzero(labs[0] == obj)
            ys2, xs2 = np.nonzero(labs[2] == obj)
            if len(xs2):
                speeds.append(np.hypot(xs2.mean() - xs.mean(), ys2.mean() - ys.mean()) / 2)
    assert {size_bucket(a) for a in areas} == {"< 3%", "3-10%", ">= 10%"}
    inside = [0.005 < a < 0.4 for a in areas]  # the rest: partly hidden on frame 0 (write_family drops those)
    assert sum(inside) >= 0.8 * len(areas)
    assert min(speeds) < 5 and max(speeds) > 15, "slow and fast motion"


def test_training_never_reads_the_families() -> None:
    """No module of masklet.data or masklet.train imports masklet.eval (families, photos)."""
    for folder in ("data", "train"):
        for path in (SRC / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    module = ("." * node.level) + (node.module or "")
                    assert "eval" not in module and "families" not in module, f"{path} imports {module}"
            strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
            named = [s for s in strings for p in PHOTOS.glob("*.jpg") if s in (p.stem, p.name) or "eval/photos" in s]
            assert not named, f"{path} names the families' photos: {named}"
    family_photos = sorted(PHOTOS.glob("*.jpg"))
    assert len(family_photos) == 8 and (PHOTOS / "LICENSES.md").is_file()
    # Nor are they among the training generator's photos.
    training = {p.read_bytes() for p in (SRC / "data" / "backgrounds").rglob("*") if p.is_file()}
    assert not [p for p in family_photos if p.read_bytes() in training]
    assert not {p.stem for p in family_photos} & {p.stem for p in (SRC / "data" / "backgrounds").rglob("*")}


def test_eval_on_a_folder_of_families(tmp_path: Path) -> None:
    for family in FAMILIES:
        names = write_family(tmp_path / "families" / family, family, 1, FamilySpec(frames=5))
        assert names and (tmp_path / "families" / family / "Annotations" / names[0] / "00004.png").is_file()
    r = subprocess.run([sys.executable, "-m", "masklet", "eval", str(tmp_path / "families"), "-q"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["family", "(J&F)", "objects", "masklet-nano", "copy", "first", "frame", "without", "memory"]
    assert [line.split()[0] for line in lines[1:3]] == ["cutouts", "shapes"]
    assert any(line.startswith("object size") for line in lines)
    values = [float(v) for line in lines[1:3] for v in line.split()[2:]]
    assert all(0.0 <= v <= 1.0 for v in values) and any(v > 0 for v in values)
    assert any(line.startswith("copy first frame") for line in lines)


def test_drift_diagnosis_on_a_folder_of_families(tmp_path: Path) -> None:
    """scripts/diagnose_drift.py: a row per family and speed, its copy columns the IoU of
    each object's frame-0 mask with its truth, computed here independently, and a column per
    shown frame for each of the four figures (tracked, copied, against frame 0, boxed)."""
    from masklet.data.davis import read_annotation

    copies: dict[str, list[float]] = {}
    for family in FAMILIES:
        root = tmp_path / "families" / family
        for name in write_family(root, family, 2, FamilySpec(frames=5)):
            gt = [read_annotation(p) for p in sorted((root / "Annotations" / name).glob("*.png"))]
            for obj in (int(v) for v in np.unique(gt[0]) if v):
                first, last = gt[0] == obj, gt[4] == obj
                union = (first | last).sum()
                copies.setdefault(family, []).append(1.0 if union == 0 else (first & last).sum() / union)
    script = SRC.parents[1] / "scripts" / "diagnose_drift.py"
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "families"), "--frames", "1,4"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line.strip("| ").split(" | ") for line in r.stdout.splitlines()[2:]]
    assert {row[0] for row in rows} == set(FAMILIES) and {row[1] for row in rows} <= {"slow", "fast"}
    assert {len(row) for row in rows} == {3 + 4 * 2}
    for family in FAMILIES:
        mine = [row for row in rows if row[0] == family]
        assert sum(int(row[2]) for row in mine) == len(copies[family])
        # the object-weighted mean of the rows' frame-4 copy column is the mean over objects
        copied = sum(int(row[2]) * float(row[6]) for row in mine) / len(copies[family])
        assert copied == pytest.approx(float(np.mean(copies[family])), abs=0.01)
        values = [float(v) for row in mine for v in row[3:]]
        assert all(0.0 <= v <= 1.0 for v in values) and any(0.0 < v < 1.0 for v in values)


def test_another_draw_of_the_families(tmp_path: Path) -> None:
    """`masklet test-families --first K` writes other seeds' sequences (a draw no earlier choice looked at)."""
    from click.testing import CliRunner

    from masklet.cli import main

    runner = CliRunner()
    for first, out in ((0, "a"), (1000, "b")):
        args = ["test-families", str(tmp_path / out), "-n", "1", "--frames", "3", "--family", "shapes", "--first", str(first)]
        r = runner.invoke(main, args)
        assert r.exit_code == 0, r.output
    (a,), (b,) = (sorted(p.name for p in (tmp_path / out / "shapes" / "JPEGImages").iterdir()) for out in "ab")
    assert int(a.split("-")[1]) < 1000 <= int(b.split("-")[1])
    frame = "shapes/JPEGImages/{}/00000.jpg"
    assert (tmp_path / "a" / frame.format(a)).read_bytes() != (tmp_path / "b" / frame.format(b)).read_bytes()
