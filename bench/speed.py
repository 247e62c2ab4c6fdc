"""Speed of the SAM 2 family in masklet beside each model's reference, same inputs, same
weights, one run.

    .venv/bin/python bench/speed.py [--configs sam2.1_hiera_t edgetam masklet-nano] [--frames 8]
        [--reference /tmp/sam2-reference/bin/python] [--edgetam-reference /tmp/edgetam-reference/bin/python]
        [--mode exact fast]

For each config and engine, in a fresh process (stand-in weights in the official format;
masklet-nano with its packaged weights and no reference):
- image embedding: `set_image` on the shared truck photo (1800x1200), best of 3 after a warm-up;
- prompt to mask: `predict` from one click on the embedded photo, best of 5;
- video: the first FRAMES frames of the shared bedroom clip (960x540, JPEG folder); click
  latency: the first click on frame 0 after `init_state` (its features are ready on both
  sides); then one click per object on frame 0 and `propagate_in_video`: frames/s over the
  propagated frames, for 1 and 3 objects;
- peak resident memory of the whole run.
SAM 2 configs run beside sam2==1.1.0 (../shared/tools/reference-env), EdgeTAM beside the
official EdgeTAM code (../shared/tools/edgetam-reference-env), which cannot track two
objects in one session: its 3-object column says so. Every mask is kept, and the table
gives the mean IoU of masklet's masks with the reference's: a speed-up only counts at
mean IoU >= 0.98. Without a reference's interpreter masklet runs alone. `--mode` picks
masklet's speed modes (masklet.config.SPEED_MODES: tracker options of the video
predictor; "fast" is measured for SAM 2 configs only, EdgeTAM's memories being small).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CLICKS = [(300, 250), (700, 300), (480, 420)]  # on the bedroom clip: one per object
TRUCK_CLICK = (900, 700)


def yaml_of(config: str) -> str:
    """The reference's config name for a preset."""
    if config == "edgetam":
        return "edgetam.yaml"
    return f"configs/{config.split('_hiera_')[0]}/{config}.yaml"


def child(engine: str, config: str, checkpoint: str, video: str, out: str, mode: str) -> dict:
    """Runs inside the measured process; masks go to `out` (npz), timings are returned."""
    import torch
    from PIL import Image

    if engine == "masklet":
        sys.path.insert(0, str(ROOT / "src"))
        from masklet import build_sam2, build_sam2_video_predictor
        from masklet.compat import SAM2ImagePredictor
        from masklet.config import SPEED_MODES

        options = dict(SPEED_MODES[mode])  # tracker options: the video predictor takes them
        name = config  # masklet takes the preset's name
    else:
        from sam2.build_sam import build_sam2, build_sam2_video_predictor
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        options, name = {}, yaml_of(config)
    result: dict = {}
    masks: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        predictor = SAM2ImagePredictor(build_sam2(name, checkpoint, device="cpu"))
        truck = np.asarray(Image.open(SHARED / "images" / "truck.jpg").convert("RGB"))
        times = []
        for _ in range(4):
            t = time.perf_counter()
            predictor.set_image(truck)
            times.append(time.perf_counter() - t)
        result["embed_s"] = min(times[1:])
        times = []
        for _ in range(6):
            t = time.perf_counter()
            m, scores, _ = predictor.predict(point_coords=np.array([TRUCK_CLICK]), point_labels=np.array([1]))
            times.append(time.perf_counter() - t)
        result["prompt_ms"] = 1000 * min(times[1:])
        masks["image"] = m[int(np.argmax(scores))] > 0
        del predictor

        video_predictor = build_sam2_video_predictor(
            name, checkpoint, device="cpu", hydra_overrides_extra=["++model.fill_hole_area=0"], **options
        )
        state = video_predictor.init_state(video)
        for num_objects in (1, 3):
            video_predictor.reset_state(state)
            try:
                for obj_id, (x, y) in enumerate(CLICKS[:num_objects], start=1):
                    t = time.perf_counter()
                    video_predictor.add_new_points_or_box(state, 0, obj_id, points=[[x, y]], labels=[1])
                    if num_objects == 1:
                        result["click_ms"] = 1000 * (time.perf_counter() - t)
                t = time.perf_counter()
                n = 0
                for frame_idx, obj_ids, logits in video_predictor.propagate_in_video(state):
                    if frame_idx == 0:
                        t = time.perf_counter()  # frame 0 was answered when clicked: time the tracked frames
                    else:
                        n += 1
                    for obj_id, mask in zip(obj_ids, logits[:, 0] > 0):
                        masks[f"video{num_objects}_f{frame_idx}_o{obj_id}"] = mask.cpu().numpy()
                result[f"fps{num_objects}"] = n / (time.perf_counter() - t)
            except RuntimeError as exc:  # EdgeTAM's reference with several objects
                result[f"fps{num_objects}_error"] = (str(exc).strip().splitlines() or ["failed"])[-1][:80]
    np.savez_compressed(out, **masks)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    result["torch"] = torch.__version__
    return result


def measure(python: str, engine: str, config: str, checkpoint: Path, video: Path, out: Path, mode: str) -> dict:
    cmd = [python, __file__, "--child", engine, config, str(checkpoint), str(video), str(out), mode]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def mean_iou(ours: Path, theirs: Path, prefix: str) -> float:
    a, b = np.load(ours), np.load(theirs)
    keys = [k for k in b.files if k.startswith(prefix)]
    missing = [k for k in keys if k not in a.files]
    if missing or not keys:
        return float("nan")
    return float(np.mean([iou(a[k], b[k]) for k in keys]))


def frames_folder(dest: Path, frames: int) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(sorted((SHARED / "videos" / "bedroom").glob("*.jpg"))[:frames]):
        (dest / f"{i:05d}.jpg").symlink_to(src)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["sam2.1_hiera_t", "edgetam", "masklet-nano"])
    parser.add_argument("--frames", type=int, default=8, help="frames of the bedroom clip (the first is prompted)")
    parser.add_argument("--mode", nargs="+", default=["exact"], help="masklet speed modes to measure (exact, fast)")
    parser.add_argument("--reference", default="/tmp/sam2-reference/bin/python", help="the SAM 2 reference's python")
    parser.add_argument("--edgetam-reference", default="/tmp/edgetam-reference/bin/python", help="the EdgeTAM reference's python")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    sys.path.insert(0, str(ROOT / "src"))
    from masklet.standin import save_standin_checkpoint

    work = Path(tempfile.mkdtemp(prefix="masklet-speed-"))
    video = frames_folder(work / "bedroom", args.frames)
    rows = []
    for config in args.configs:
        reference = {"masklet-nano": None, "edgetam": args.edgetam_reference}.get(config, args.reference)
        if config == "masklet-nano":
            checkpoint = "masklet-nano"  # the packaged weights
        else:
            checkpoint = str(save_standin_checkpoint(config, work / f"{config}.pt"))
        modes = [m for m in args.mode if m == "exact" or config.startswith("sam2")]
        runs = [(f"masklet {m}", sys.executable, "masklet", m) for m in modes]
        if reference and Path(reference).exists():
            runs.append(("reference", reference, "reference", "exact"))
        elif reference:
            print(f"{config}: reference not found at {reference}: masklet alone", file=sys.stderr)
        results = {}
        for label, python, engine, mode in runs:
            out = work / f"{config}-{label.replace(' ', '-')}.npz"
            print(f"  {config}: {label} ...", file=sys.stderr, flush=True)
            results[label] = (measure(python, engine, config, checkpoint, video, out, mode), out)
        rows.append((config, results))

    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs ({_cpu_name()}); stand-in weights (masklet-nano: its own); "
          f"truck.jpg 1800x1200; bedroom clip 960x540, {args.frames - 1} propagated frames")
    head = (f"{'config':<15} {'engine':<15} {'embed s':>8} {'x':>5} {'prompt ms':>9} {'x':>5} {'click ms':>8} {'x':>5} "
            f"{'fps 1 obj':>9} {'x':>5} {'fps 3 obj':>9} {'x':>5} {'peak MB':>8} {'IoU img':>7} {'IoU vid':>7}")
    print(head)
    base = {}  # the SAM 2.1 tiny reference's frames/s: the yardstick of the family
    for config, results in rows:
        if config == "sam2.1_hiera_t" and "reference" in results and "fps1" in results["reference"][0]:
            base = results["reference"][0]
        ref, ref_out = results.get("reference", ({}, None))
        for label, (r, out) in results.items():
            if "error" in r:
                print(f"{config:<15} {label:<15} error: {r['error']}")
                continue

            def ratio(key: str, higher_is_better: bool) -> str:
                if label == "reference" or key not in ref or key not in r:
                    return "-"
                return f"{(r[key] / ref[key]) if higher_is_better else (ref[key] / r[key]):.1f}"

            def value(key: str, fmt: str) -> str:
                return format(r[key], fmt) if key in r else "fails"

            ious = ("-", "-")
            if label != "reference" and ref_out is not None and "error" not in ref:
                ious = (f"{mean_iou(out, ref_out, 'image'):.3f}", f"{mean_iou(out, ref_out, 'video1'):.3f}")
            print(
                f"{config:<15} {label:<15} {r['embed_s']:8.2f} {ratio('embed_s', False):>5} {r['prompt_ms']:9.0f} "
                f"{ratio('prompt_ms', False):>5} {value('click_ms', '8.0f'):>8} {ratio('click_ms', False):>5} "
                f"{value('fps1', '9.3f'):>9} {ratio('fps1', True):>5} {value('fps3', '9.3f'):>9} {ratio('fps3', True):>5} "
                f"{r['peak_mb']:8.0f} {ious[0]:>7} {ious[1]:>7}"
            )
            for n in (1, 3):
                if f"fps{n}_error" in r:
                    print(f"{'':<31} {n} objects: {r[f'fps{n}_error']}")
    if base:
        print(f"\nframes/s against the SAM 2.1 tiny reference's ({base['fps1']:.3f} / {base['fps3']:.3f}):")
        for config, results in rows:
            for label, (r, _) in results.items():
                if "fps1" in r:
                    three = f"{r['fps3'] / base['fps3']:.1f}x" if "fps3" in r else "fails"
                    print(f"  {config:<15} {label:<15} 1 object {r['fps1'] / base['fps1']:.1f}x, 3 objects {three}")
    print("x: masklet's speed-up over the same model's reference; IoU: mean mask IoU with the reference's masks "
          "(video: the 1-object run)")


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
