"""scripts/diagnose_features.py: token matching on the test families, by features and by pixels."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "diagnose_features.py"
spec = importlib.util.spec_from_file_location("diagnose_features", SCRIPT)
diagnose = importlib.util.module_from_spec(spec)
spec.loader.exec_module(diagnose)  # type: ignore[union-attr]


def test_matching_follows_the_features() -> None:
    """Features that are each token's own position copy frame 0; features that move with
    the object follow it."""
    g = 4
    first = torch.zeros(g, g, dtype=torch.bool)
    first[0, 0] = True
    where = torch.eye(g * g).view(g * g, g, g)  # token k: one-hot at k
    copied = diagnose.matched(torch.stack([where, where]), first)
    assert torch.equal(copied[1], first)
    moved = torch.stack([where, where.roll(shifts=(1, 1), dims=(1, 2))])  # everything one token down and right
    assert moved.shape == (2, g * g, g, g)
    followed = diagnose.matched(moved, first)
    assert followed[1, 1, 1] and followed[1].sum() == 1


def test_token_truth_needs_half_a_token() -> None:
    label = np.zeros((64, 64), np.uint8)
    label[:16, :16] = 1  # one whole token of a 4 x 4 grid
    label[16:22, 16:32] = 1  # 6 of its 16 rows: under half
    truth = diagnose.token_truth(label, 1, 4)
    assert truth[0, 0] and truth.sum() == 1


def test_the_table_on_a_small_draw(tmp_path: Path) -> None:
    from masklet.eval.families import FamilySpec, write_family

    spec = FamilySpec(width=320, height=180, frames=3)
    for family in ("shapes", "cutouts"):
        write_family(tmp_path / family, family, 1, spec)
    command = [sys.executable, str(SCRIPT), str(tmp_path), "--checkpoint", "standin"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    lines = result.stdout.strip().splitlines()
    header = lines[0]
    for column in ("copy frame 0", "pixels", "random init", "standin", "standin, centred"):
        assert column in header
    rows = {line.rsplit(" (", 1)[0]: line for line in lines[1:]}
    assert {"shapes", "cutouts", "all"} <= set(rows)
    values = [float(v) for v in rows["all"].split(")", 1)[1].split()]
    assert len(values) == 6  # copy, pixels, two networks as they are and centred
    assert all(0.0 <= v <= 1.0 for v in values), values


def test_runs_are_named_by_their_folder() -> None:
    assert diagnose._label("/runs/u8/last.pt") == "u8"
    assert diagnose._label("/w/b1.safetensors") == "b1"
    assert diagnose._label(None) == "masklet-nano"
