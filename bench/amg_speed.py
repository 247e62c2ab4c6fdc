"""Segment everything: masklet's automatic mask generator beside the reference's, one run.

    .venv/bin/python bench/amg_speed.py [--config sam2.1_hiera_t] [--reference /tmp/sam2-reference/bin/python]

On the shared truck photo (1800x1200), stand-in weights, each in a fresh process:
- "default": the official defaults (32 x 32 clicks, predicted IoU > 0.8, stability >= 0.95);
- "many": 16 x 16 clicks, thresholds near 0 (under stand-in weights the defaults keep
  nothing, so this is the run where masks survive to be upsampled, scored and encoded).
Seconds for `generate`, masks found, and masklet's time against the reference's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRUCK = ROOT.parent / "shared" / "data" / "images" / "truck.jpg"
SETTINGS = {
    "default": {},
    "many": dict(points_per_side=16, pred_iou_thresh=0.01, stability_score_thresh=0.01, box_nms_thresh=0.9),
}


def child(engine: str, config: str, checkpoint: str, setting: str) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    if engine == "masklet":
        sys.path.insert(0, str(ROOT / "src"))
        from masklet import SAM2AutomaticMaskGenerator, build_sam2

        name = config
    else:
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
        from sam2.build_sam import build_sam2

        name = f"configs/{config.split('_hiera_')[0]}/{config}.yaml"
    image = np.asarray(Image.open(TRUCK).convert("RGB"))
    generator = SAM2AutomaticMaskGenerator(build_sam2(name, checkpoint, device="cpu"), **SETTINGS[setting])
    with torch.inference_mode():
        t = time.perf_counter()
        masks = generator.generate(image)
        seconds = time.perf_counter() - t
    return {"seconds": seconds, "masks": len(masks), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="sam2.1_hiera_t")
    parser.add_argument("--reference", default="/tmp/sam2-reference/bin/python")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    sys.path.insert(0, str(ROOT / "src"))
    from masklet.standin import save_standin_checkpoint

    work = Path(tempfile.mkdtemp(prefix="masklet-amg-"))
    checkpoint = save_standin_checkpoint(args.config, work / f"{args.config}.pt")
    engines = [("masklet", sys.executable)] + ([("reference", args.reference)] if Path(args.reference).exists() else [])
    rows = []
    for setting in SETTINGS:
        for engine, python in engines:
            print(f"  {setting}: {engine} ...", file=sys.stderr, flush=True)
            done = subprocess.run([python, __file__, "--child", engine, args.config, str(checkpoint), setting],
                                  capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
            result = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {"error": done.stderr.strip()[-200:]}
            rows.append((setting, engine, result))
    print(f"\nsegment everything on truck.jpg (1800x1200), {args.config}, stand-in weights, {os.cpu_count()} CPUs")
    print(f"{'settings':<9} {'engine':<10} {'seconds':>8} {'masks':>6} {'x':>5}")
    for setting, engine, r in rows:
        if "error" in r:
            print(f"{setting:<9} {engine:<10} error: {r['error']}")
            continue
        ref = next((x for s, e, x in rows if s == setting and e == "reference" and "seconds" in x), None)
        ratio = f"{ref['seconds'] / r['seconds']:.2f}" if ref and engine != "reference" else "-"
        print(f"{setting:<9} {engine:<10} {r['seconds']:8.1f} {r['masks']:>6} {ratio:>5}")
    print("x: the reference's time over masklet's")


if __name__ == "__main__":
    main()
