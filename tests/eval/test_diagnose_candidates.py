"""scripts/diagnose_candidates.py: how much another tracking candidate would have bought."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "diagnose_candidates.py"
spec = importlib.util.spec_from_file_location("diagnose_candidates", SCRIPT)
diagnose = importlib.util.module_from_spec(spec)
spec.loader.exec_module(diagnose)  # type: ignore[union-attr]


def test_box_iou_with_inclusive_ends() -> None:
    a = np.array([0.0, 0.0, 9.0, 9.0])  # 10 x 10 pixels
    assert diagnose.box_iou(a, a) == 1.0
    assert diagnose.box_iou(a, np.array([0.0, 5.0, 9.0, 14.0])) == 50 / 150
    assert diagnose.box_iou(a, np.array([10.0, 0.0, 19.0, 9.0])) == 0.0
    assert diagnose.box_iou(a, None) == 0.0


def table(root: Path, rule: str) -> dict[str, tuple[int, float, float]]:
    command = [sys.executable, str(SCRIPT), str(root), "--checkpoint", "standin", "--rule", rule]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    assert lines[0] == f"| family | objects | J, {rule} | J, copying the frame-0 mask |"
    rows = [line.strip("| ").split(" | ") for line in lines[2:]]
    return {r[0]: (int(r[1]), float(r[2]), float(r[3])) for r in rows}


def test_the_oracle_is_a_ceiling_on_one_tracked_frame(tmp_path: Path) -> None:
    """With two frames the only tracked one is frame 1, so the candidate nearest the truth
    scores at least the network's own choice there; copying does not depend on the rule."""
    from masklet.eval.families import FamilySpec, write_family

    spec = FamilySpec(width=320, height=180, frames=2)
    for family in ("shapes", "cutouts"):
        write_family(tmp_path / family, family, 2, spec)
    own, oracle, motion = (table(tmp_path, rule) for rule in ("predicted", "oracle", "motion"))
    assert set(own) == set(oracle) == set(motion) == {"cutouts", "shapes"}
    for family, (objects, j, copy) in own.items():
        assert objects >= 2
        assert oracle[family][0] == motion[family][0] == objects
        assert oracle[family][2] == motion[family][2] == copy
        assert oracle[family][1] >= j - 1e-3  # three decimals printed
        assert 0.0 <= j <= 1.0 and 0.0 < copy <= 1.0
