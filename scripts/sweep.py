"""Train several masklet-nano variants side by side within a time budget (e.g. on a lent GPU).

    python scripts/sweep.py WORK OUT --budget 480 [--data plain --counts 1000 800] [--sweep 2]
    python scripts/sweep.py WORK OUT --budget 480 --data cutouts --counts 1200 800 --sweep 4 --anchor STAGE6
    python scripts/sweep.py WORK5S OUT --budget 200 --data cutouts --counts 1200 800 --sweep 5s --backgrounds WALLS &&
    python scripts/sweep.py WORK5M OUT --budget 330 --data tracking --counts 1200 800 400 300 --sweep 5m --init WORK5S/sg/last.pt

Generates the training data in parallel (the same sequences `masklet generate` writes),
runs a short calibration slice of every variant at once to learn its steps per second,
then resumes each with a schedule sized to end inside the budget. Each variant's weights
go to OUT/<name>.safetensors (float16, to travel light; evaluate them with `masklet eval
--checkpoint`), its losses to OUT/logs.tar.gz, a summary to stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

# Every variant starts from --init (the packaged weights by default). Sweeps 1-3 train on
# plain and crowded clips (--data plain): 1 fine-tunes everything as it is; 2 gives the
# memory encoder and memory attention fresh weights (the trained ones made memory tokens of
# norm ~4000, so the cross-attention was a hard argmax that passed no gradient to object
# pointers and little to memories); 3 is stage 5 at GPU batch sizes. All in float32, as on
# the CPU: a model this small waits on kernel launches, not on matrix products, so bf16
# would buy little speed and make the runs' numerics differ from the CPU recipe's.
COMMON = ["--model", "masklet-nano", "--multi-object", "0.5", "--refine-clicks", "1", "--warmup", "100", "--no-bf16"]
FRESH_MEMORY = ["--reinit", "memory_encoder", "--reinit", "memory_attention", "--freeze-image-encoder"]
BATCHED = ["--clip-len", "8", "--warmup", "20", "--mask-prompt", "0.3", "--box-prompt", "0.3"]
KEEP_CLICKS = ["--freeze", "sam_mask_decoder", "--freeze", "sam_prompt_encoder"]
# 4: issue 22's direction at GPU scale, from the packaged weights (b1) on the cut-out-rich
# data (--data cutouts): stage 9's settings (the answers to prompts anchored to stage 6's,
# every candidate's IoU supervised, two corrective clicks) on batches of 32 six-frame clips,
# with more of the image encoder learning, and faster than a CPU could afford.
FROM_B1 = ["--clip-len", "6", "--batch-size", "32", "--warmup", "20", "--mask-prompt", "0.3", "--box-prompt", "0.25",
           "--refine-clicks", "2", "--supervise-all-iou", "--anchor", "{anchor}", "--anchor-weight", "3", "--preload"]
FINE_STAGES = ["--freeze", "image_encoder.trunk.patch_embed", "--freeze", "image_encoder.trunk.blocks.0",
               "--freeze", "image_encoder.trunk.blocks.1", "--freeze", "image_encoder.trunk.blocks.2"]
# The neck stays frozen throughout: stage 3's rescale left its weights ~100x smaller than Adam's steps.
NECK = ["--freeze", "image_encoder.neck"]
# 5s and 5m: issue 22's segmenter-first order at GPU scale, two runs one after the other
# (see the module docstring). 5s: single frames segmented from boxes and clicks, from b1
# (scripts/train_nano_variants.sh sg5 at 8 times the batch). 5m: on 5s's features, held,
# the memory encoder and memory attention anew, trained with the decoder on clips of every
# 1st-3rd frame (mr5 at 4 times the batch), its weights kept every 100 steps to average.
SEGMENT = ["--clip-len", "1", "--batch-size", "64", "--mask-prompt", "0", "--box-prompt", "0.3", "--refine-clicks", "2",
           "--warmup", "20", "--preload", *NECK]
REMEMBER = [*FRESH_MEMORY, "--clip-len", "6", "--max-frame-step", "3", "--batch-size", "32", "--mask-prompt", "0.3",
            "--box-prompt", "0.3", "--refine-clicks", "2", "--attention-weight", "1", "--warmup", "20", "--preload",
            "--keep-every", "100"]
SWEEPS: dict[str, dict[str, list[str]]] = {
    "1": {
        "f8": ["--freeze-image-encoder", "--clip-len", "8", "--lr", "3e-4", "--seed", "11"],
        "f4": ["--freeze-image-encoder", "--clip-len", "4", "--lr", "2e-4", "--seed", "12"],
        "f8aug": ["--freeze-image-encoder", "--clip-len", "8", "--lr", "3e-4", "--augment", "--seed", "13"],
        "u8": ["--clip-len", "8", "--lr", "1e-4", "--embedding-norm", "8", "--seed", "14"],
        "u8aug": ["--clip-len", "8", "--lr", "1e-4", "--embedding-norm", "8", "--augment", "--seed", "15"],
        "u8slow": ["--clip-len", "8", "--lr", "3e-5", "--embedding-norm", "8", "--augment", "--seed", "16"],
        "u8free": ["--clip-len", "8", "--lr", "5e-5", "--augment", "--seed", "17"],
    },
    "2": {
        "m4": [*FRESH_MEMORY, "--clip-len", "4", "--lr", "5e-4", "--seed", "21"],
        "m4fast": [*FRESH_MEMORY, "--clip-len", "4", "--lr", "1e-3", "--seed", "22"],
        "m4aug": [*FRESH_MEMORY, "--clip-len", "4", "--lr", "5e-4", "--augment", "--seed", "23"],
        "m8": [*FRESH_MEMORY, "--clip-len", "8", "--lr", "5e-4", "--seed", "24"],
        "m8fast": [*FRESH_MEMORY, "--clip-len", "8", "--lr", "1e-3", "--seed", "25"],
        "m6mask": [*FRESH_MEMORY, "--clip-len", "6", "--lr", "7e-4", "--mask-prompt", "0.7", "--box-prompt", "0.15", "--seed", "26"],
        "m4dec": [*FRESH_MEMORY, "--reinit", "sam_mask_decoder", "--clip-len", "4", "--lr", "5e-4", "--seed", "27"],
    },
    # 3: stage 5 of scripts/train_nano.sh (a fresh memory path on batches of 8-frame clips)
    # at GPU batch sizes, with the decoder learning or frozen (clicks kept). Start it from
    # stage 4's weights (--init); the packaged ones already hold a trained memory path.
    "3": {
        "b16": [*FRESH_MEMORY, *BATCHED, "--batch-size", "16", "--lr", "1.5e-3", "--seed", "31"],
        "b16frz": [*FRESH_MEMORY, *BATCHED, *KEEP_CLICKS, "--batch-size", "16", "--lr", "1.5e-3", "--seed", "32"],
        "b32": [*FRESH_MEMORY, *BATCHED, "--batch-size", "32", "--lr", "2e-3", "--seed", "33"],
        "b32frz": [*FRESH_MEMORY, *BATCHED, *KEEP_CLICKS, "--batch-size", "32", "--lr", "2e-3", "--seed", "34"],
        "b16aug": [*FRESH_MEMORY, *BATCHED, "--batch-size", "16", "--lr", "1.5e-3", "--augment", "--seed", "35"],
    },
    "4": {
        "c32": [*FROM_B1, *NECK, *FINE_STAGES, "--lr", "2e-4", "--image-encoder-lr", "5e-5", "--seed", "71"],
        "c32hi": [*FROM_B1, *NECK, *FINE_STAGES, "--lr", "4e-4", "--image-encoder-lr", "2e-4", "--seed", "72"],
        "u32": [*FROM_B1, *NECK, "--lr", "2e-4", "--image-encoder-lr", "5e-5", "--seed", "73"],
        "u32hi": [*FROM_B1, *NECK, "--lr", "4e-4", "--image-encoder-lr", "2e-4", "--seed", "74"],
        "u32fs": [*FROM_B1, *NECK, "--lr", "2e-4", "--image-encoder-lr", "1e-4", "--max-frame-step", "3", "--augment",
                  "--seed", "75"],
    },
    "5s": {
        "sg": [*SEGMENT, *FINE_STAGES, "--lr", "4e-4", "--image-encoder-lr", "1e-4", "--seed", "81"],
        "sgfine": [*SEGMENT, "--lr", "4e-4", "--image-encoder-lr", "1e-4", "--seed", "82"],
    },
    "5m": {
        "mr": [*REMEMBER, "--lr", "2e-3", "--seed", "91"],
        "mrslow": [*REMEMBER, "--lr", "1e-3", "--seed", "92"],
        "mr1": [*REMEMBER, "--lr", "2e-3", "--max-frame-step", "1", "--seed", "93"],
    },
}
# The training sets of each --data: (folder, `masklet generate` options); --counts gives their sizes.
DATASETS = {
    "plain": [("train", []), ("crowd", ["--objects", "2-4", "--distractors", "3"])],
    "cutouts": [("clut", ["--cutouts", "0.7", "--clutter", "3"]), ("wclut", ["--wide", "--cutouts", "0.7", "--clutter", "3"])],
}
# tracking: both of those and both of plain's (what mr5 tracks on); --counts gives four sizes.
DATASETS["tracking"] = DATASETS["cutouts"] + DATASETS["plain"]
KEEP_AVERAGED = 4  # a run that kept its weights (--keep-every) is also exported as the mean of its last four


def masklet(*args: str) -> list[str]:
    return [sys.executable, "-m", "masklet", *args]


def find_masklet() -> None:
    """Let the child processes import masklet from this checkout where it is not installed.

    A lent GPU machine has PyTorch but no masklet, and cannot fetch it.
    """
    if importlib.util.find_spec("masklet") is None:
        src = str(Path(__file__).resolve().parents[1] / "src")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))


def generate(work: Path, mix: Path, sets: list[tuple[str, list[str]]], counts: list[int], jobs: int, extra: list[str]) -> None:
    """Write the training sets in `jobs` processes, then link them all into the folder `mix`."""
    total = sum(counts)
    procs = []
    for (name, options), count in zip(sets, counts):
        share = -(-count // max(1, jobs * count // total))
        for first in range(0, count, share):
            n = min(share, count - first)
            cmd = masklet("generate", str(work / name), "--split", "train", "-n", str(n), "--first", str(first), *options, *extra)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
    if any(p.wait() for p in procs):
        raise SystemExit("data generation failed")
    for kind in ("JPEGImages", "Annotations"):
        (mix / kind).mkdir(parents=True, exist_ok=True)
        for i, (name, _) in enumerate(sets):
            for seq in (work / name / kind).iterdir():
                link = mix / kind / (f"{name}_{seq.name}" if i else seq.name)
                if not link.is_symlink():
                    link.symlink_to(seq.resolve())
                elif link.resolve() != seq.resolve():
                    raise SystemExit(f"{link} points at {link.resolve()}, not {seq}: use another WORK folder")


def launch(work: Path, mix: Path, name: str, variant: list[str], init: str, steps: int, extra: list[str]) -> subprocess.Popen:
    cmd = masklet("train", str(mix), str(work / name), "--init", init, "--steps", str(steps), *COMMON, *variant, *extra)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MASKLET_DEBUG": "1"}
    with open(work / f"{name}.log", "a") as log:  # the child keeps its own handle
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def logged(work: Path, name: str) -> list[list[str]]:
    """The rows of a run's losses.csv so far, without its header."""
    path = work / name / "losses.csv"
    if not path.exists():
        return []
    with open(path) as f:
        return [line.split(",") for line in f.read().splitlines()[1:]]


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--budget", type=float, required=True, help="seconds for everything, from start to the last export")
    ap.add_argument("--data", choices=sorted(DATASETS), default="plain",
                    help="plain: plain and crowded sequences; cutouts: the cut-out-rich and wide ones")
    ap.add_argument("--counts", type=positive, nargs="+", default=[1000, 800], metavar="N",
                    help="sequences in each set of --data (two; four for tracking)")
    ap.add_argument("--data-root", type=Path, default=None, help="the generator's photos (default: the packaged ones)")
    ap.add_argument("--backgrounds", type=Path, default=None, help="further photos (scripts/fetch_backgrounds.py)")
    ap.add_argument("--init", default="src/masklet/weights/masklet-nano.safetensors")
    ap.add_argument("--anchor", default=None, help="the anchor checkpoint of sweep 4 (stage 6's weights)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--calibration-steps", type=int, default=40)
    ap.add_argument("--sweep", choices=sorted(SWEEPS), default="2")
    ap.add_argument("--only", nargs="*", default=None, help="variants to run (default: all of the sweep)")
    args = ap.parse_args()
    t0 = time.monotonic()
    find_masklet()
    anchored = any("{anchor}" in a for v in SWEEPS[args.sweep].values() for a in v)
    if anchored and not (args.anchor and Path(args.anchor).is_file()):
        raise SystemExit(f"sweep {args.sweep} anchors its answers to prompts: give --anchor, a file (stage 6's weights), "
                         f"not {args.anchor!r}")
    if args.anchor and not anchored:
        print(f"sweep {args.sweep} has no anchor: --anchor is not used", flush=True)
    if len(args.counts) != len(DATASETS[args.data]):
        raise SystemExit(f"--data {args.data} has {len(DATASETS[args.data])} sets "
                         f"({', '.join(n for n, _ in DATASETS[args.data])}): give as many --counts, not {len(args.counts)}")
    variants = {n: [a.replace("{anchor}", args.anchor or "") for a in v] for n, v in SWEEPS[args.sweep].items()}
    unknown = sorted(set(args.only or []) - set(variants))
    if unknown:
        raise SystemExit(f"no variants {unknown} in sweep {args.sweep}: it has {sorted(variants)}")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    extra = (["--data-root", str(args.data_root)] if args.data_root else []) + (
        ["--backgrounds", str(args.backgrounds)] if args.backgrounds else [])
    mix = args.work / f"mix-{args.data}"  # one per --data, so a reused WORK never mixes the two
    generate(args.work, mix, DATASETS[args.data], args.counts, args.jobs, extra)
    print(f"data: {time.monotonic() - t0:.0f} s", flush=True)

    # Calibration: every variant at once, as they will run, for a few steps.
    names, calibration = list(args.only or variants), args.calibration_steps
    started = time.monotonic()
    slice_args = ["--stop-after", str(calibration), "--save-every", str(calibration)]
    procs = {n: launch(args.work, mix, n, variants[n], args.init, 10**6, slice_args) for n in names}
    first_row: dict[str, float] = {}
    ended: dict[str, float] = {}
    while len(ended) < len(procs):
        now = time.monotonic()
        for n, p in procs.items():
            if n not in first_row and logged(args.work, n):
                first_row[n] = now
            if n not in ended and p.poll() is not None:
                ended[n] = now
        time.sleep(0.2)
    rate, startup = {}, 0.0
    for n, p in procs.items():
        if p.returncode or n not in first_row:
            print(f"{n}: calibration failed (exit {p.returncode}):\n" + (args.work / f"{n}.log").read_text()[-3000:], flush=True)
            continue
        rate[n] = (len(logged(args.work, n)) - 1) / max(ended[n] - first_row[n], 1e-3)
        startup = max(startup, first_row[n] - started)
    rates = ", ".join(f"{n} {r:.2f}" for n, r in rate.items())
    print(f"calibration: {time.monotonic() - started:.0f} s, start-up {startup:.0f} s, steps/s {rates}", flush=True)

    # The real runs resume from the calibration slice with a schedule that ends in time.
    export_reserve = 25.0
    train_end = t0 + args.budget - export_reserve
    left = max(0.0, train_end - time.monotonic() - startup)
    steps = {n: calibration + max(1, int(0.9 * r * left)) for n, r in rate.items()}
    print("steps: " + ", ".join(f"{n} {s}" for n, s in steps.items()), flush=True)
    procs = {n: launch(args.work, mix, n, variants[n], args.init, s, ["--save-every", "100"]) for n, s in steps.items()}
    for n, p in procs.items():
        try:
            p.wait(timeout=max(1.0, train_end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.terminate()
            p.wait()
            print(f"{n}: stopped at the deadline", flush=True)

    import torch
    from safetensors.torch import save_file

    for n in procs:
        last = args.work / n / "last.pt"
        if not last.exists():
            continue
        state = torch.load(last, map_location="cpu", weights_only=True)
        save_file({k: v.half().contiguous() for k, v in state["model"].items()}, str(args.out / f"{n}.safetensors"))
        kept = sorted((args.work / n).glob("step-*.pt"))[-KEEP_AVERAGED:]
        if len(kept) > 1:
            states = [torch.load(k, map_location="cpu", weights_only=True)["model"] for k in kept]
            averaged = {k: (sum(s[k] for s in states) / len(states) if v.is_floating_point() else v) for k, v in states[0].items()}
            save_file({k: v.half().contiguous() for k, v in averaged.items()}, str(args.out / f"{n}-avg.safetensors"))
            print(f"{n}-avg: the mean of {', '.join(k.stem for k in kept)}", flush=True)
        done = logged(args.work, n)
        mean = sum(float(r[1]) for r in done[-200:]) / len(done[-200:])
        print(f"{n}: step {state['step']} of {steps[n]} ({len(done)} logged), mean loss of the last 200 {mean:.4f}", flush=True)
    with tarfile.open(args.out / "logs.tar.gz", "w:gz") as tar:
        for n in names:
            for f in (args.work / n / "losses.csv", args.work / f"{n}.log"):
                if f.exists():
                    tar.add(f, arcname=f"{n}/{f.name}")
    print(f"total: {time.monotonic() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
