"""masklet batch on a local Ray cluster: videos per minute with 1 and 2 workers, one run.

    .venv/bin/python bench/batch_speed.py [--videos 8] [--frames 24]

The work: `--videos` clips tracked with masklet-nano from one click each, `--frames`
frames per clip, taken in turn from the shared MP4s and the shared JPEG frames (real
decoding, real writing of palette PNGs and COCO RLE). Each worker count runs into a fresh
output folder; the clock covers the whole call (Ray's start, each worker loading the
model, the videos). Also the cost of one video in one process (`masklet track`'s code
path, model loaded once), from which the note estimates N machines.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CLIPS = [("videos/01_dog.mp4", [600, 450]), ("videos/bedroom", [300, 250]), ("videos/03_blocks.mp4", [320, 240])]


def manifest(folder: Path, count: int) -> Path:
    path = folder / "videos.jsonl"
    lines = []
    for i in range(count):
        video, point = CLIPS[i % len(CLIPS)]
        lines.append(json.dumps({"video": str(DATA / video), "output": f"clip{i:02d}", "prompts": [{"frame": 0, "points": [point]}]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()

    import ray

    from masklet.backends import video_predictor
    from masklet.batch import TrackSettings, read_manifest, track_many, track_video

    settings = TrackSettings(max_frames=args.frames - 1, rle=True)
    work = Path(tempfile.mkdtemp(prefix="masklet-batch-bench-"))
    try:
        path = manifest(work, args.videos)
        # One process, model loaded once: the cost of a video without Ray.
        predictor = video_predictor()
        jobs = read_manifest(path)
        per_video = []
        for job in jobs[: len(CLIPS)]:
            result = track_video(predictor, job, work / "single", settings)
            assert result.status == "done", result.error
            per_video.append(result.seconds)
        rows = []
        for workers in (1, 2):
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            started = time.perf_counter()
            results = track_many(path, work / f"out{workers}", settings, workers=workers, progress=False)
            seconds = time.perf_counter() - started
            ray.shutdown()
            assert all(r.status == "done" for r in results), [r.error for r in results]
            frames = sum(r.frames for r in results)
            each = sum(r.seconds for r in results) / len(results)  # one video on one worker
            rows.append((workers, seconds, args.videos / seconds * 60, frames / seconds, each, seconds - len(results) * each / workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    video_s = sum(per_video) / len(per_video)
    print(f"{args.videos} videos x {args.frames} frames, masklet-nano, one click each; this machine: 2 cores\n")
    print("| workers | seconds | videos/min | frames/s | x vs 1 worker | s per video on a worker | start-up s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for workers, seconds, vpm, fps, each, startup in rows:
        print(f"| {workers} | {seconds:.1f} | {vpm:.1f} | {fps:.1f} | {rows[0][1] / seconds:.2f} | {each:.2f} | {startup:.1f} |")
    each = rows[-1][4]
    print(f"\none video in one process, model loaded, all cores: {video_s:.2f} s ({args.frames / video_s:.1f} frames/s)")
    print(f"N machines of C cores, one single-threaded worker per core: about {60 / each:.0f} x N x C videos/min "
          f"({each:.2f} s a video on one core, as measured with 2 workers), after {rows[-1][5]:.0f} s of start-up")

if __name__ == "__main__":
    main()
