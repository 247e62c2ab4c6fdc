"""masklet.runtime (ONNX graphs on onnxruntime, numpy around them) beside the torch path, one run.

    .venv/bin/python bench/runtime_speed.py [--models masklet-nano,sam2.1_hiera_t,edgetam]

For each model (masklet-nano's packaged weights; the others under stand-in weights: the
speed does not depend on the values): the graphs are exported once, then each engine
runs in a fresh process on the shared truck photo: image embedding (median of 3) and a
click (median of 10, one positive point, three candidates), video frames/s (one object
clicked on the shared bedroom clip, 8 frames tracked); the runtime also with its
int8 image encoder, and that one's accuracy: the mean IoU of its masks with the fp32
runtime's over a 6 x 4 grid of clicks (3 candidates each). Also the installed size of
what each needs (the runtime: onnxruntime, numpy, pillow, av; the torch path: torch too).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRUCK = ROOT.parent / "shared" / "data" / "images" / "truck.jpg"
BEDROOM = ROOT.parent / "shared" / "data" / "videos" / "bedroom.mp4"
VIDEO_FRAMES = 8


def child(engine: str, model: str, checkpoint: str, folder: str) -> dict:
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(TRUCK).convert("RGB"))
    if engine.startswith("runtime"):
        from masklet.runtime import ImagePredictor

        predictor = ImagePredictor(folder, int8=engine == "runtime-int8")
    else:
        import masklet

        predictor = masklet.SAM2ImagePredictor(masklet.build_sam2(model, checkpoint or None, device="cpu"))
    embeds, clicks = [], []
    for _ in range(3):
        t = time.perf_counter()
        predictor.set_image(image)
        embeds.append(time.perf_counter() - t)
    for i in range(10):
        t = time.perf_counter()
        predictor.predict(point_coords=[[500 + 10 * i, 375]], point_labels=[1])
        clicks.append(time.perf_counter() - t)
    result = {"embed_s": statistics.median(embeds), "click_ms": 1000 * statistics.median(clicks),
              "torch_loaded": "torch" in sys.modules}
    if engine != "runtime-int8":
        # Video: one object clicked on frame 0 of the bedroom clip, tracked over VIDEO_FRAMES more.
        if engine == "runtime":
            from masklet.runtime import VideoPredictor

            video = VideoPredictor(folder)
        else:
            video = masklet.build_sam2_video_predictor(model, checkpoint or None, device="cpu")
        state = video.init_state(str(BEDROOM))
        video.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[300, 250]], labels=[1])
        t = time.perf_counter()
        n = sum(1 for _ in video.propagate_in_video(state, start_frame_idx=1, max_frame_num_to_track=VIDEO_FRAMES - 1))
        result["video_fps"] = n / (time.perf_counter() - t)
    if engine == "runtime-int8":
        fp32 = ImagePredictor(folder)
        fp32.set_image(image)
        ious = []
        for x in range(150, 1800, 300):
            for y in range(150, 1200, 300):
                a = predictor.predict(point_coords=[[x, y]], point_labels=[1])[0] > 0
                b = fp32.predict(point_coords=[[x, y]], point_labels=[1])[0] > 0
                ious += [(p & q).sum() / max((p | q).sum(), 1) for p, q in zip(a, b)]
        result["iou_vs_fp32"] = float(np.mean(ious))
    return result


def package_mb(names: list[str]) -> float:
    """Installed size of packages (their import folders) in this environment."""
    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            for dirpath, _, files in os.walk(folder):
                total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
            libs = Path(folder).parent / f"{name}.libs"
            if libs.is_dir():
                total += sum(p.stat().st_size for p in libs.iterdir())
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="masklet-nano,sam2.1_hiera_t,edgetam")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    work = Path(tempfile.mkdtemp(prefix="masklet-runtime-bench-"))
    rows = []
    for model in args.models.split(","):
        checkpoint = "" if model == "masklet-nano" else "standin"
        folder = work / model
        print(f"  exporting {model} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "masklet", "export-onnx", model, *(["--checkpoint", checkpoint] if checkpoint else []),
                        "--int8", "-o", str(folder)], check=True, capture_output=True)
        for engine in ("torch", "runtime", "runtime-int8"):
            print(f"  {model}: {engine} ...", file=sys.stderr, flush=True)
            done = subprocess.run([sys.executable, __file__, "--child", engine, model, checkpoint, str(folder)],
                                  capture_output=True, text=True, check=True)
            rows.append((model, engine, json.loads(done.stdout.strip().splitlines()[-1])))
    print(f"\nimage path on truck.jpg (1800x1200), {os.cpu_count()} CPUs")
    print(f"{'model':<16} {'engine':<13} {'embed s':>8} {'x':>5} {'click ms':>9} {'x':>5} {'video fps':>9} {'x':>5} "
          f"{'torch loaded':>13} {'IoU vs fp32':>12}")
    for model, engine, r in rows:
        base = next(x for m, e, x in rows if m == model and e == "torch")
        iou = f"{r['iou_vs_fp32']:.3f}" if "iou_vs_fp32" in r else "-"
        fps = f"{r['video_fps']:9.2f} {r['video_fps'] / base['video_fps']:5.2f}" if "video_fps" in r else f"{'-':>9} {'-':>5}"
        print(f"{model:<16} {engine:<13} {r['embed_s']:8.2f} {base['embed_s'] / r['embed_s']:5.2f} {r['click_ms']:9.1f} "
              f"{base['click_ms'] / r['click_ms']:5.2f} {fps} {r['torch_loaded']!s:>13} {iou:>12}")
    print("x: the torch path's time over this engine's (for frames/s: this engine's over the torch path's)")
    runtime = package_mb(["onnxruntime", "numpy", "PIL", "av"])
    print(f"\ninstalled: runtime path {runtime:.0f} MB (onnxruntime, numpy, pillow, av); "
          f"torch path {runtime - package_mb(['onnxruntime']) + package_mb(['torch']):.0f} MB (torch, numpy, pillow, av)")


if __name__ == "__main__":
    main()
