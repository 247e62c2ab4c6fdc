"""scripts/diagnose_attention.py: the labels memory attention carries, beside the decoder's mask."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "diagnose_attention.py"
spec = importlib.util.spec_from_file_location("diagnose_attention", SCRIPT)
diagnose = importlib.util.module_from_spec(spec)
spec.loader.exec_module(diagnose)  # type: ignore[union-attr]


def test_labels_are_carried_by_the_weights_on_spatial_memory() -> None:
    """Query 0 looks at the object's memory token, query 1 half at the background's and half
    at a pointer (left out), query 2 at both memory tokens alike."""
    weights = torch.tensor([[[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]]])  # (1, heads, N, M + P)
    labels = diagnose.carried(weights, torch.tensor([1.0, 0.0]))
    assert torch.allclose(labels, torch.tensor([1.0, 0.0, 0.5]))


def test_the_table_on_a_small_draw(tmp_path: Path) -> None:
    from masklet.eval.families import FamilySpec, write_family

    spec = FamilySpec(width=320, height=180, frames=4)
    for family in ("shapes", "cutouts"):
        write_family(tmp_path / family, family, 1, spec)
    command = [sys.executable, str(SCRIPT), str(tmp_path), "--checkpoint", "standin", "--clips", "3", "--clip-len", "3"]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    assert lines[0].startswith("| weights | family |") and "labels carried L0 / L1" in lines[0]
    rows = [line.split(" | ") for line in lines[2:]]
    assert {(r[1], r[2]) for r in rows} <= {(f, w) for f in ("cutouts", "shapes") for w in ("frame 1", "frames 2+")}
    assert any(r[2] == "frame 1" for r in rows)
    for r in rows:
        frames = int(r[3])
        assert 1 <= frames <= (3 if r[2] == "frame 1" else 6)
        for figure in (r[6], r[7]):  # the predicted mask's and copying's token IoU
            assert 0.0 <= float(figure) <= 1.0
        assert all(float(x) >= 0 for x in r[4].split(" / "))
