"""scripts/train_nano.sh, run with a stand-in `masklet` that records each call and makes
what the call would: which stage gets which options, where the weights go, and a second
run that makes no data again."""

import os
import shlex
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Records its arguments, then makes a sequence for `generate OUT`, last.pt for `train DATA OUT`
# and the file for `export CKPT OUT`: enough for the recipe to go on.
STAND_IN = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$MASKLET_CALLS"
case "$1" in
  generate) mkdir -p "$2/JPEGImages/seq_a" "$2/Annotations/seq_a" ;;
  train) mkdir -p "$3" && touch "$3/last.pt" ;;
  export) touch "$3" ;;
esac
"""


def _run(tmp_path: Path, work: Path, appearance: str | None) -> list[list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "masklet"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls.txt"
    calls.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MASKLET_CALLS": str(calls)}
    env.pop("APPEARANCE", None)
    if appearance is not None:
        env["APPEARANCE"] = appearance
    subprocess.run(["bash", str(ROOT / "scripts" / "train_nano.sh"), str(work)], cwd=tmp_path, env=env, check=True,
                   capture_output=True, text=True)
    return [shlex.split(line) for line in calls.read_text().splitlines()]


def _trains(calls: list[list[str]]) -> dict[str, list[str]]:
    return {Path(c[2]).name: c for c in calls if c[0] == "train"}


def test_appearance_recipe_options_and_rerun(tmp_path):
    work = tmp_path / "work"
    (work / "walls").mkdir(parents=True)  # as scripts/fetch_backgrounds.py leaves it
    calls = _run(tmp_path, work, "1.5")
    trains = _trains(calls)
    assert sorted(trains) == [f"stage{i}" for i in range(1, 10)]
    for stage, call in trains.items():
        learns = stage in {"stage1", "stage2", "stage7", "stage8", "stage9"}
        assert ("--appearance-weight" in call) == learns, stage
        if learns:
            assert call[call.index("--appearance-weight") + 1] == "1.5"
    # Stages 1-2 learn from the plain sequences and the zoomed cut-outs, linked together.
    assert trains["stage1"][1] == trains["stage2"][1] == str(work / "first")
    assert sorted(p.name for p in (work / "first" / "JPEGImages").iterdir()) == ["seq_a", "z_seq_a"]
    assert (work / "first" / "Annotations" / "z_seq_a").resolve() == (work / "z" / "Annotations" / "seq_a").resolve()
    zoomed = next(c for c in calls if c[0] == "generate" and c[1].endswith("z.tmp"))
    assert zoomed[zoomed.index("--backgrounds") + 1] == str(work / "walls")
    # The blend goes beside the run, and the package's weights are left alone.
    export = [c for c in calls if c[0] == "export"][-1]
    assert export[2] == str(work / "masklet-nano.safetensors")
    assert not list(work.glob("*.tmp"))
    # Run again: the data are kept, each stage is asked to go on (it resumes from its checkpoint).
    again = _run(tmp_path, work, "1.5")
    assert not [c for c in again if c[0] == "generate"]
    assert sorted(_trains(again)) == sorted(trains)


def test_packaged_recipe_unchanged(tmp_path):
    work = tmp_path / "work"
    (tmp_path / "src" / "masklet" / "weights").mkdir(parents=True)  # the script runs from the repository's root
    calls = _run(tmp_path, work, None)
    trains = _trains(calls)
    assert not any("--appearance-weight" in c for c in trains.values())
    assert trains["stage1"][1] == str(work / "train")
    assert not (work / "z").exists()
    assert sorted(p.name for p in (work / "mix" / "JPEGImages").iterdir()) == ["crowd_seq_a", "seq_a"]
    assert sorted(p.name for p in (work / "cmix" / "JPEGImages").iterdir()) == ["clut_seq_a", "wclut_seq_a"]
    export = [c for c in calls if c[0] == "export"][-1]
    assert export[2] == "src/masklet/weights/masklet-nano.safetensors"
