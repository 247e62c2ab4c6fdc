"""scripts/score_dog.py: the dog clip scored against boxes drawn by eye (a check on real
footage that no model's output defines)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "score_dog.py"
spec = importlib.util.spec_from_file_location("score_dog", SCRIPT)
score_dog = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score_dog)  # type: ignore[union-attr]


def test_the_boxes_lie_in_the_clip(shared_data: Path) -> None:
    with av.open(str(shared_data / "videos" / "01_dog.mp4")) as container:
        stream = container.streams.video[0]
        w, h, n = stream.codec_context.width, stream.codec_context.height, stream.frames
    assert (w, h) == (1280, 720) and max(score_dog.BOXES) < n
    for box in filter(None, score_dog.BOXES.values()):
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and (x1 - x0) * (y1 - y0) > 0.02 * w * h


def test_scores_of_known_masks() -> None:
    boxed = [t for t, b in score_dog.BOXES.items() if b and t]
    on_box, elsewhere = {}, {}
    for t in score_dog.BOXES:
        on_box[t] = np.zeros((720, 1280), bool)
        elsewhere[t] = np.zeros((720, 1280), bool)
        elsewhere[t][:100, :100] = True  # the top-left corner: never the dog
        if score_dog.BOXES[t]:
            x0, y0, x1, y1 = score_dog.BOXES[t]
            on_box[t][y0:y1, x0:x1] = True
    right = score_dog.score(on_box)
    assert right["on_box"] == 1.0 and right["covered"] == 1.0 and right["mostly_on"] == right["frames"] == len(boxed)
    assert right["away"] == 0.0
    wrong = score_dog.score(elsewhere)
    assert wrong["on_box"] == 0.0 and wrong["covered"] == 0.0 and wrong["mostly_on"] == 0
    assert abs(wrong["away"] - 100 * 100 / (720 * 1280)) < 1e-9


def test_the_script_on_the_clip() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--last", "24"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    row = r.stdout.splitlines()[2].strip("| ").split(" | ")
    assert row[0] == "masklet-nano" and row[3] == f"{int(float(row[1]) > 0.5)} / 1"
    assert 0.0 <= float(row[1]) <= 1.0 and 0.0 <= float(row[2]) <= 1.0 and row[4] == "nan"
