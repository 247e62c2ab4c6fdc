"""masklet batch on a local Ray cluster of 2 workers (CPU, masklet-nano): outputs equal to
`masklet track`'s for each video (the shared MP4, the shared JPEG frames, a generated
clip), re-runs that do no work, a corrupt video reported while the rest finish, a
worker killed mid-video whose video is redone; and `masklet eval` sharded over Ray
giving the single-process table and CSV."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray", reason="the ray extra is part of the test extra")

from masklet.batch import CRASH_HOOK, SUMMARY, TrackSettings, read_manifest, track_many
from masklet.data.generator import BACKGROUNDS, GeneratorConfig, write_dataset
from masklet.errors import BadInput

SETTINGS = TrackSettings(max_frames=6, rle=True)
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # as each of the 2 workers on 2 cores runs


def masklet_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "masklet", *args], capture_output=True, text=True, check=False, env=env or ONE_THREAD)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster of 2 CPUs for the module (track_many uses a running one)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory, shared_data: Path) -> Path:
    """A manifest of three videos and, beside it, each one's `masklet track -o` output."""
    root = tmp_path_factory.mktemp("batch")
    write_dataset(root / "generated", "val", 1, BACKGROUNDS, GeneratorConfig(width=320, height=192, num_frames=10, min_objects=2))
    (seq,) = sorted((root / "generated" / "JPEGImages").iterdir())
    first = sorted((root / "generated" / "Annotations" / seq.name).glob("*.png"))[0]
    ids = sorted(int(v) for v in np.unique(np.asarray(Image.open(first))) if v)
    entries = [
        {"video": str(shared_data / "videos" / "01_dog.mp4"), "output": "dog",
         "prompts": [{"frame": 0, "obj_id": 1, "points": [[600, 450]]}, {"frame": 3, "obj_id": 2, "box": [100, 100, 500, 600]}]},
        {"video": str(shared_data / "videos" / "bedroom"), "output": "bedroom",
         "prompts": [{"frame": 0, "obj_id": 1, "points": [[300, 250], [700, 300]], "labels": [1, 0]}]},
        {"video": str(seq.relative_to(root)), "output": "generated",
         "prompts": [{"frame": 0, "obj_id": i, "mask": str(first.relative_to(root))} for i in ids]},
    ]
    (root / "videos.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    for e in entries:
        prompts = root / f"{e['output']}.prompts.json"
        prompts.write_text(json.dumps(e["prompts"]))
        r = masklet_cli("track", str(root / e["video"]), "--prompts", str(prompts), "--max-frames", "6",
                        "-o", str(root / "reference" / e["output"]), "--rle", str(root / "reference" / f"{e['output']}.json"), "-q")
        assert r.returncode == 0, r.stderr[-2000:]
    return root


def assert_same_as_reference(out: Path, name: str, reference: Path) -> None:
    want = sorted(p.name for p in (reference / name).glob("*.png"))
    assert sorted(p.name for p in (out / name).glob("*.png")) == want and len(want) == 7
    for frame in want:
        ours, theirs = (np.asarray(Image.open(folder / name / frame)) for folder in (out, reference))
        assert theirs.any(), f"an empty reference mask ({name}/{frame}) would agree with too much"
        assert np.array_equal(ours, theirs), f"{name}/{frame} differs from `masklet track`"
    assert json.loads((out / name / "masks.json").read_text()) == json.loads((reference / f"{name}.json").read_text())


def test_batch_outputs_equal_the_cli_and_a_rerun_does_no_work(ray_cluster, videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = track_many(videos / "videos.jsonl", out, SETTINGS, workers=2, progress=False)
    assert [(r.output, r.status, r.frames) for r in results] == [("dog", "done", 7), ("bedroom", "done", 7), ("generated", "done", 7)]
    for name in ("dog", "bedroom", "generated"):
        assert_same_as_reference(out, name, videos / "reference")
    summary = json.loads((out / SUMMARY).read_text())
    assert [s["status"] for s in summary] == ["done"] * 3 and all(set(s) == {"output", "video", "status", "error", "frames", "seconds"}
                                                                  for s in summary)
    assert (out / "batch_summary.csv").read_text().splitlines()[0] == "output,video,status,error,frames,seconds"

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = track_many(videos / "videos.jsonl", out, SETTINGS, workers=2, progress=False)
    assert [(r.status, r.frames) for r in again] == [("skipped", 7)] * 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    # Other settings make other outputs: those videos are done again.
    changed = track_many(videos / "videos.jsonl", out, TrackSettings(max_frames=3, rle=True), workers=2, progress=False)
    assert [(r.status, r.frames) for r in changed] == [("done", 4)] * 3


def test_a_corrupt_video_is_reported_and_the_rest_finish(ray_cluster, videos: Path, tmp_path: Path) -> None:
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    lines = (videos / "videos.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    for e in entries:
        e["video"] = str(videos / e["video"])
        for p in e["prompts"]:
            if "mask" in p:
                p["mask"] = str(videos / p["mask"])
    entries.insert(1, {"video": "corrupt.mp4", "output": "corrupt", "prompts": [{"points": [[10, 10]]}]})
    manifest = tmp_path / "with_corrupt.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / "out"
    results = track_many(manifest, out, SETTINGS, workers=2, progress=False)
    assert [r.status for r in results] == ["done", "failed", "done", "done"]
    assert "corrupt.mp4" in results[1].error or "video" in results[1].error.lower()
    assert not (out / "corrupt").exists()  # nothing half-written
    for name in ("dog", "bedroom", "generated"):
        assert_same_as_reference(out, name, videos / "reference")
    summary = json.loads((out / SUMMARY).read_text())
    assert summary[1]["status"] == "failed" and summary[1]["error"] == results[1].error


def test_a_worker_killed_mid_video_has_it_redone(ray_cluster, videos: Path, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "died"
    monkeypatch.setenv(CRASH_HOOK, f"dog:{marker}")
    out = tmp_path / "out"
    results = track_many(videos / "videos.jsonl", out, SETTINGS, workers=2, progress=False)
    assert marker.is_file(), "the test hook did not kill the worker"
    assert [r.status for r in results] == ["done"] * 3
    assert results[0].attempts == 2 and results[1].attempts == results[2].attempts == 1
    for name in ("dog", "bedroom", "generated"):
        assert_same_as_reference(out, name, videos / "reference")
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "the killed attempt's partial folder is left behind"


def test_manifest_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video": "a.mp4", "prompts": []}\n{"video": "b/a.mp4", "prompts": []}\n')
    with pytest.raises(BadInput, match="two videos write to output 'a'"):
        read_manifest(bad)
    bad.write_text('{"video": "a.mp4", "output": "../up", "prompts": []}\n')
    with pytest.raises(BadInput, match="line 1: output '../up' must be a plain folder name"):
        read_manifest(bad)
    bad.write_text('{"video": "a.mp4"}\n')
    with pytest.raises(BadInput, match="line 1: no prompts"):
        read_manifest(bad)
    assert [j.output for j in read_manifest(bad, everything=True)] == ["a"]
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "x.mp4").write_bytes(b"")
    (folder / "y.mp4").write_bytes(b"")
    (folder / "x.json").write_text('[{"points": [[1, 2]]}]')
    jobs = read_manifest(folder)
    assert [(j.output, j.problem is None) for j in jobs] == [("x", True), ("y", False)]
    assert "no prompts file y.json" in jobs[1].problem


def test_eval_sharded_on_ray_equals_the_single_process_table(tmp_path: Path) -> None:
    write_dataset(tmp_path / "set", "val", 4, BACKGROUNDS, GeneratorConfig(width=320, height=192, num_frames=8))
    single = masklet_cli("eval", str(tmp_path / "set"), "--baseline", "copy", "--csv", str(tmp_path / "single.csv"), "-q")
    sharded = masklet_cli("eval", str(tmp_path / "set"), "--baseline", "copy", "--workers", "2", "--csv", str(tmp_path / "ray.csv"), "-q")
    assert single.returncode == 0 and sharded.returncode == 0, sharded.stderr[-2000:] + single.stderr[-2000:]
    assert len(single.stdout.splitlines()) == 4 + 2 + 1 + 3  # header, 4 sequences, overall, blank, comparison
    assert sharded.stdout == single.stdout
    assert (tmp_path / "ray.csv").read_text() == (tmp_path / "single.csv").read_text()


def test_the_command_on_a_folder_of_videos(videos: Path, shared_data: Path, tmp_path: Path) -> None:
    """`masklet batch FOLDER`: prompts beside each video (an MP4 or a folder of frames); one
    without is reported, the others done."""
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "dog.mp4").symlink_to(shared_data / "videos" / "01_dog.mp4")
    (clips / "dog.json").write_text((videos / "dog.prompts.json").read_text())
    (clips / "bedroom").symlink_to(shared_data / "videos" / "bedroom")
    (clips / "bedroom.json").write_text((videos / "bedroom.prompts.json").read_text())
    (clips / "blocks.mp4").symlink_to(shared_data / "videos" / "03_blocks.mp4")
    # Two videos to track, so each of the 2 workers runs one thread, as the references did
    # (a lone video gets a worker with every core, and other float sums).
    r = masklet_cli("batch", str(clips), "-o", str(tmp_path / "out"), "--workers", "2", "--max-frames", "6", "--rle", "-q")
    assert r.returncode == 1, r.stderr[-2000:]
    assert "failed: blocks" in r.stderr and "no prompts file blocks.json" in r.stderr
    assert "3 videos: 2 done, 0 skipped (complete), 1 failed" in r.stdout
    for name in ("dog", "bedroom"):
        assert_same_as_reference(tmp_path / "out", name, videos / "reference")
    summary = json.loads((tmp_path / "out" / SUMMARY).read_text())
    assert sorted((s["output"], s["status"]) for s in summary) == [("bedroom", "done"), ("blocks", "failed"), ("dog", "done")]


def test_track_everything_in_a_batch_equals_the_cli(ray_cluster, videos: Path, tmp_path: Path) -> None:
    """--all: the automatic masks of frame 0 become objects, as `masklet track --all` makes them."""
    (seq,) = sorted((videos / "generated" / "JPEGImages").iterdir())
    r = masklet_cli("track", str(seq), "--all", "--max-objects", "3", "--max-frames", "2", "-o", str(tmp_path / "reference" / "all"), "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = tmp_path / "all.jsonl"
    manifest.write_text(json.dumps({"video": str(seq), "output": "all"}) + "\n")
    settings = TrackSettings(everything=True, max_objects=3, max_frames=2)
    (result,) = track_many(manifest, tmp_path / "out", settings, workers=1, progress=False)
    assert (result.status, result.frames) == ("done", 3), result.error
    for frame in ("00000.png", "00001.png", "00002.png"):
        ours, theirs = (np.asarray(Image.open(root / "all" / frame)) for root in (tmp_path / "out", tmp_path / "reference"))
        assert len(np.unique(theirs)) >= 2, "no object found: the comparison would be empty"
        assert np.array_equal(ours, theirs), frame
