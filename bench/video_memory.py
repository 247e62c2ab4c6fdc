"""Peak resident memory against video length, masklet beside the reference.

    .venv/bin/python bench/video_memory.py [--lengths 50 200 1000] [--config sam2.1_hiera_t | edgetam]
                                           [--reference /tmp/sam2-reference/bin/python | none]

For each length, a JPEG-folder video of the shared bedroom clip looped to that many
frames; each measurement runs in a fresh process (the config with stand-in weights;
SAM 2.1 tiny by default):
- init_state: peak RSS right after opening the video;
- tracking near frame 8 and near frame N-20: one click, then 8 frames propagated; the
  peak RSS of the whole run and how much it grew while tracking.
The reference (sam2==1.1.0 from ../shared/tools/reference-env) runs the same steps when
its interpreter is given or found at /tmp/sam2-reference; otherwise masklet alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "videos" / "bedroom"
CONFIG = "sam2.1_hiera_t"  # --config replaces it


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def looped_video(n: int, root: Path) -> Path:
    folder = root / f"bedroom_x{n}"
    if not folder.exists():
        folder.mkdir(parents=True)
        frames = sorted(CLIP.glob("*.jpg"))
        for i in range(n):
            (folder / f"{i:05d}.jpg").symlink_to(frames[i % len(frames)])
    return folder


def child(engine: str, video: str, checkpoint: str, track_from: int, config: str) -> dict:
    """Runs inside the measured process."""
    import torch

    if engine == "masklet":
        sys.path.insert(0, str(ROOT / "src"))
        from masklet import build_sam2_video_predictor
    else:
        from sam2.build_sam import build_sam2_video_predictor
    yaml = "edgetam.yaml" if config == "edgetam" else f"configs/{config.split('_hiera_')[0]}/{config}.yaml"
    predictor = build_sam2_video_predictor(yaml, checkpoint, device="cpu", hydra_overrides_extra=["++model.fill_hole_area=0"])
    result: dict = {"model_mb": rss_mb()}
    with torch.inference_mode():
        t = time.perf_counter()
        state = predictor.init_state(video)
        result.update(init_s=time.perf_counter() - t, init_peak_mb=peak_mb(), after_init_mb=rss_mb())
        if track_from >= 0:
            before = rss_mb()
            predictor.add_new_points_or_box(state, track_from, 1, points=[[300, 250]], labels=[1])
            t = time.perf_counter()
            for _ in predictor.propagate_in_video(state, start_frame_idx=track_from, max_frame_num_to_track=8):
                pass
            result.update(track_s=time.perf_counter() - t, track_peak_mb=peak_mb(), track_growth_mb=rss_mb() - before)
    return result


def measure(python: str, engine: str, video: Path, checkpoint: Path, track_from: int, config: str) -> dict:
    cmd = [python, __file__, "--child", engine, str(video), str(checkpoint), str(track_from), config]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--config", default=CONFIG, help="sam2.1_hiera_t, edgetam, ...")
    parser.add_argument("--reference", default="/tmp/sam2-reference/bin/python",
                        help="the reference's python ('none': masklet alone; EdgeTAM's reference holds every frame)")
    parser.add_argument("--track-all", action="store_true", help="track near the start at every length, not only the longest")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, video, checkpoint, track_from, config = args.child
        print(json.dumps(child(engine, video, checkpoint, int(track_from), config)))
        return

    sys.path.insert(0, str(ROOT / "src"))
    from masklet.standin import save_standin_checkpoint

    config = args.config
    work = Path(tempfile.mkdtemp(prefix="masklet-bench-"))
    checkpoint = save_standin_checkpoint(config, work / f"{config}.pt")
    engines = [("masklet", sys.executable)]
    if Path(args.reference).exists():
        engines.append(("reference", args.reference))
    else:
        print(f"reference not found at {args.reference}: masklet alone (build it with ../shared/tools/reference-env)")

    rows = []
    for n in args.lengths:
        video = looped_video(n, work)
        for engine, python in engines:
            init = measure(python, engine, video, checkpoint, -1, config)
            near_start = measure(python, engine, video, checkpoint, 0, config) if n == max(args.lengths) or args.track_all else {}
            near_end = measure(python, engine, video, checkpoint, n - 20, config) if n == max(args.lengths) else {}
            rows.append((n, engine, init, near_start, near_end))
            print(f"  measured {engine} at {n} frames", file=sys.stderr)

    def fmt(d: dict, key: str) -> str:
        if "error" in d:
            return "error"
        return f"{d[key]:.0f}" if key in d else "-"

    print(f"\nPeak resident memory (MB), {config}, {os.cpu_count()} CPUs, JPEG folder of the looped bedroom clip (960x540)")
    print(f"{'frames':>6} {'engine':>9} {'init_state peak':>15} {'init s':>7} {'track@8 peak':>12} {'growth':>7} {'track@N-20 peak':>15} {'growth':>7}")
    for n, engine, init, a, b in rows:
        init_s = f"{init['init_s']:.1f}" if "init_s" in init else "error"
        print(
            f"{n:>6} {engine:>9} {fmt(init, 'init_peak_mb'):>15} {init_s:>7} {fmt(a, 'track_peak_mb'):>12} "
            f"{fmt(a, 'track_growth_mb'):>7} {fmt(b, 'track_peak_mb'):>15} {fmt(b, 'track_growth_mb'):>7}"
        )
    for n, engine, init, a, b in rows:
        for what, d in (("init", init), ("track@8", a), ("track@N-20", b)):
            if "error" in d:
                print(f"{engine} {what} at {n} frames failed: {d['error']}")


if __name__ == "__main__":
    main()
