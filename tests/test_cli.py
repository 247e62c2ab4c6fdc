"""The `masklet` command line: generate, eval and train on real (shared) backgrounds."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def masklet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True)


def test_generate_eval_train(tmp_path: Path, shared_data: Path) -> None:
    data = tmp_path / "data"
    r = masklet("generate", str(data), "-n", "2", "--frames", "4", "--size", "96x64", "--data-root", str(shared_data))
    assert r.returncode == 0, r.stderr
    assert len(list((data / "Annotations").iterdir())) == 2
    r = masklet("eval", str(data), "--checkpoint", "standin", "--baseline", "copy", "--baseline", "no-memory",
                "--clicks", "--csv", str(tmp_path / "s.csv"), "-q")
    assert r.returncode == 0, r.stderr
    assert "overall" in r.stdout
    side_by_side = r.stdout[r.stdout.index("method"):].splitlines()
    assert [line.split()[0] for line in side_by_side[1:4]] == ["masklet-nano", "copy", "without"]
    assert "1-click mIoU" in r.stdout and "5-click mIoU" in r.stdout
    rows = list(csv.reader(open(tmp_path / "s.csv")))
    assert rows[-1][0] == "overall" and 0 <= float(rows[-1][2]) <= 1
    r = masklet("train", str(data), str(tmp_path / "run"), "--init", "standin", "--steps", "1", "--clip-len", "2", "--image-size", "64")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "last.pt").is_file() and len((tmp_path / "run" / "losses.csv").read_text().splitlines()) == 2
    r = masklet("export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "w.safetensors"), "--image-size", "64")
    assert r.returncode == 0, r.stderr
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    exported = load_file(str(tmp_path / "w.safetensors"))
    assert exported.keys() == trained.keys() and all(torch.equal(exported[k], trained[k]) for k in trained)
    # Blended with the weights it started from: a quarter of the way back, weight by weight.
    r = masklet("export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "b.safetensors"), "--image-size", "64",
                "--blend-with", "standin", "--blend", "0.75")
    assert r.returncode == 0, r.stderr
    start = masklet_standin_state(64)
    blended = load_file(str(tmp_path / "b.safetensors"))
    key = "memory_attention.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(trained[key], start[key])
    for k in trained:
        torch.testing.assert_close(blended[k], 0.75 * trained[k] + 0.25 * start[k], msg=k)
    r = masklet("export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "c.safetensors"), "--blend", "0.5")
    assert r.returncode == 2 and "--blend-with" in r.stderr
    # Per submodule: the decoder half-way, the rest as --blend says.
    r = masklet("export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "d.safetensors"), "--image-size", "64",
                "--blend-with", "standin", "--blend", "0.75", "--blend-module", "sam_mask_decoder=0.5")
    assert r.returncode == 0, r.stderr
    per_module = load_file(str(tmp_path / "d.safetensors"))
    for k in trained:
        share = 0.5 if k.startswith("sam_mask_decoder.") else 0.75
        torch.testing.assert_close(per_module[k], share * trained[k] + (1 - share) * start[k], msg=k)
    decoder_key = "sam_mask_decoder.iou_prediction_head.layers.0.weight"
    assert not torch.equal(trained[decoder_key], start[decoder_key])
    for bad in ("decoder=0.5", "sam_mask_decoder=2"):
        r = masklet("export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "e.safetensors"), "--image-size", "64",
                    "--blend-with", "standin", "--blend-module", bad)
        assert r.returncode == 2 and "--blend-module" in r.stderr and not (tmp_path / "e.safetensors").exists(), r.stderr
    r = masklet("export", str(tmp_path / "run" / "last.pt"), str(tmp_path / "x.safetensors"), "--model", "sam2.1_hiera_t")
    assert r.returncode != 0 and "sam2.1_hiera_t" in r.stderr and not (tmp_path / "x.safetensors").exists()


def test_keep_every_and_average(tmp_path: Path, shared_data: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    r = masklet("generate", str(data), "-n", "1", "--frames", "3", "--size", "96x64", "--data-root", str(shared_data))
    assert r.returncode == 0, r.stderr
    r = masklet("train", str(data), str(run), "--init", "standin", "--steps", "3", "--clip-len", "2", "--image-size", "64",
                "--lr", "1e-2", "--keep-every", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in run.glob("step-*.pt")) == ["step-000002.pt"]
    kept = torch.load(run / "step-000002.pt", weights_only=True)
    last = torch.load(run / "last.pt", weights_only=True)
    assert kept["step"] == 2 and last["step"] == 3 and "optimizer" not in kept
    key = "memory_attention.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(kept["model"][key], last["model"][key])
    # The mean of the last step, the kept one and the start, weight by weight.
    r = masklet("export", str(run / "last.pt"), str(tmp_path / "a.safetensors"), "--image-size", "64",
                "--average-with", str(run / "step-000002.pt"), "--average-with", "standin")
    assert r.returncode == 0, r.stderr
    averaged, start = load_file(str(tmp_path / "a.safetensors")), masklet_standin_state(64)
    for k, v in last["model"].items():
        if v.is_floating_point():
            torch.testing.assert_close(averaged[k], (v + kept["model"][k] + start[k]) / 3, msg=k)
    r = masklet("export", str(run / "last.pt"), str(tmp_path / "b.safetensors"), "--image-size", "64",
                "--average-with", "standin", "--blend-with", "standin", "--blend", "0.5")
    assert r.returncode == 2 and "average or blend" in r.stderr and not (tmp_path / "b.safetensors").exists(), r.stderr


def masklet_standin_state(image_size: int) -> dict[str, torch.Tensor]:
    from masklet.build import build_model

    return build_model("masklet-nano", "standin", device="cpu", image_size=image_size).state_dict()


def test_help_and_errors(tmp_path: Path) -> None:
    for command in ("generate", "eval", "train", "export"):
        r = masklet(command, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout
    r = masklet("generate", str(tmp_path / "x"), "--size", "12")
    assert r.returncode == 2 and "expected WIDTHxHEIGHT" in r.stderr
    r = masklet("eval", str(tmp_path / "missing"), "--checkpoint", "standin")
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = masklet("eval", str(tmp_path), "--model", "sam2.1-tiny")
    assert r.returncode == 2 and "--checkpoint is needed" in r.stderr
