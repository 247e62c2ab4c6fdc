"""Many videos, many machines: each video of a manifest tracked from its prompts as
`masklet track -o` would, one Ray task per video on worker actors that keep their model
loaded. Resumable (complete outputs are skipped), honest (a failing video is recorded
and the others go on; a video whose worker died is retried, at most twice).

    results = masklet.batch.track_many("videos.jsonl", "out", workers=2)

Ray (`pip install 'masklet[ray]'`) runs the work: without an address, a local cluster on
this machine's cores; with one, the workers of that cluster (masklet and the same paths
on every node).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .atomic import atomic_path
from .errors import BadInput, MaskletError, NotFound
from .inference.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

SUMMARY = "batch_summary.json"
DONE = ".masklet-batch.json"  # in a video's output folder: what made it (its presence: complete)
MAX_RETRIES = 2  # a video whose worker died is given to a new worker at most this many times
CRASH_HOOK = "MASKLET_BATCH_CRASH_ONCE"  # tests: "NAME:MARKER" makes a worker die once on NAME


@dataclass(frozen=True)
class BatchJob:
    """One video: where it is, the folder name of its outputs, and its prompts (the JSON
    list `masklet track --prompts` reads; mask paths relative to `base`)."""

    video: Path
    output: str
    prompts: tuple = ()
    base: Path = Path(".")
    problem: str | None = None  # known before any work (a missing prompts file): recorded as failed


@dataclass(frozen=True)
class TrackSettings:
    """What every video is tracked with: the options of `masklet track` that apply."""

    model: str = "masklet-nano"
    checkpoint: str | None = None
    device: str | None = None
    speed: str = "exact"
    graphs: str | None = None  # exported ONNX graphs (masklet.runtime) instead of the torch model
    direction: str = "forward"  # forward, backward or both
    max_frames: int | None = None
    everything: bool = False  # track --all: the automatic masks of frame 0 become objects
    min_area: int = 0
    max_objects: int = 20
    rle: bool = False  # also OUTDIR/NAME/masks.json (COCO RLE)
    overlay: bool = False  # also OUTDIR/NAME/overlay.mp4
    threads: int | None = None  # torch / onnxruntime threads per worker (default: its CPUs)


@dataclass
class VideoResult:
    """One line of the batch summary."""

    output: str
    video: str
    status: str  # "done", "skipped" or "failed"
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    attempts: int = field(default=1, repr=False)


# -- the manifest ----------------------------------------------------------------------


def read_manifest(path: str | os.PathLike, everything: bool = False) -> list[BatchJob]:
    """The videos of a manifest: a JSON-lines file of {"video", "output", "prompts"} (paths
    relative to it), or a folder of videos (MP4s, JPEG folders) each with NAME.json beside
    it holding its prompts. With `everything`, prompts are not needed."""
    path = Path(path)
    if path.is_dir():
        return _folder_jobs(path, everything)
    if not path.is_file():
        raise NotFound(f"manifest not found: {path}")
    jobs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where}: not JSON ({exc}); each line is {{\"video\": PATH, \"output\": NAME, \"prompts\": [...]}}") from None
        if not isinstance(entry, dict) or "video" not in entry:
            raise BadInput(f'{where}: expected {{"video": PATH, "output": NAME, "prompts": [...]}}')
        unknown = set(entry) - {"video", "output", "prompts"}
        if unknown:
            raise BadInput(f"{where}: unknown keys {sorted(unknown)} (video, output, prompts)")
        video = path.parent / str(entry["video"])
        prompts = entry.get("prompts")
        if prompts is None and not everything:
            raise BadInput(f"{where}: no prompts for {entry['video']} (give \"prompts\", or track everything with --all)")
        if prompts is not None and not isinstance(prompts, list):
            raise BadInput(f'{where}: "prompts" is a list of {{"frame", "obj_id", "points", "labels", "box", "mask"}}')
        jobs.append(BatchJob(video, _output_name(entry.get("output"), video, where), tuple(prompts or ()), path.parent))
    if not jobs:
        raise BadInput(f"{path}: no videos (one JSON object per line)")
    _check_unique(jobs, str(path))
    return jobs


def _folder_jobs(folder: Path, everything: bool) -> list[BatchJob]:
    jobs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        is_video = entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES
        is_frames = entry.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir())
        if not (is_video or is_frames):
            continue
        name = entry.stem if is_video else entry.name
        prompts_file = folder / f"{name}.json"
        if prompts_file.is_file():
            try:
                items = json.loads(prompts_file.read_text())
            except json.JSONDecodeError as exc:
                jobs.append(BatchJob(entry, name, problem=f"prompts file {prompts_file.name} is not JSON: {exc}"))
                continue
            items = items.get("prompts") if isinstance(items, dict) else items
            jobs.append(BatchJob(entry, name, tuple(items or ()), folder))
        elif everything:
            jobs.append(BatchJob(entry, name, (), folder))
        else:
            jobs.append(BatchJob(entry, name, problem=f"no prompts file {prompts_file.name} beside it (or track everything with --all)"))
    if not jobs:
        raise BadInput(f"{folder}: no videos ({', '.join(VIDEO_SUFFIXES)} files or folders of frames)")
    _check_unique(jobs, str(folder))
    return jobs


def _output_name(name: object, video: Path, where: str) -> str:
    name = str(name) if name is not None else (video.stem if video.suffix else video.name)
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise BadInput(f"{where}: output {name!r} must be a plain folder name (no '/', not starting with '.')")
    if name in (SUMMARY, Path(SUMMARY).with_suffix(".csv").name):
        raise BadInput(f"{where}: output {name!r} is the summary's own name; choose another")
    return name


def _check_unique(jobs: Sequence[BatchJob], where: str) -> None:
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.output in seen:
            raise BadInput(f"{where}: two videos write to output {job.output!r} ({seen[job.output]} and {job.video}): "
                           f"give each its own \"output\"")
        seen[job.output] = job.video


# -- one video -------------------------------------------------------------------------


def fingerprint(job: BatchJob, settings: TrackSettings) -> str:
    """What a video's outputs depend on: the video (size, time), its prompts, the settings."""
    try:
        stat = job.video.stat()
        video = [str(job.video.resolve()), stat.st_size, stat.st_mtime_ns] if job.video.is_file() else [
            str(job.video.resolve()), sorted((p.name, p.stat().st_size) for p in job.video.iterdir())]
    except OSError:
        video = [str(job.video)]
    settings_seen = {k: v for k, v in asdict(settings).items() if k not in ("threads", "device")}
    doc = json.dumps({"video": video, "prompts": list(job.prompts), "settings": settings_seen}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:20]


def is_complete(job: BatchJob, out_dir: Path, settings: TrackSettings) -> bool:
    """Are the video's outputs there, whole, and made from the same video, prompts and settings?"""
    try:
        done = json.loads((out_dir / job.output / DONE).read_text())
    except (OSError, ValueError):
        return False
    return done.get("fingerprint") == fingerprint(job, settings)


def track_video(predictor, job: BatchJob, out_dir: Path, settings: TrackSettings,
                on_frame: Callable[[int], None] | None = None) -> VideoResult:
    """Track one video and write its outputs into `out_dir/NAME` (all of them or none);
    a failure is returned as a failed result, naming what went wrong."""
    from .inference.video_io import open_video
    from .masks_io import output_folder
    from .prompts import prompts_from_json
    from .tracking import EverythingPlan, track_source

    started = time.monotonic()
    result = VideoResult(job.output, str(job.video), "failed")
    if job.problem:
        result.error = job.problem
        return result
    try:
        prompts = prompts_from_json(list(job.prompts), job.base, where=f"{job.output}: prompts")
        if not prompts and not settings.everything:
            raise BadInput(f"{job.output}: no prompts (give some, or track everything with --all)")
        everything = EverythingPlan(min_area=settings.min_area, max_objects=settings.max_objects) if settings.everything else None
        with open_video(job.video) as source, output_folder(out_dir / job.output, [job.video]) as tmp:
            for p in prompts:
                p.check(source.num_frames, source.height, source.width)
            result.frames, _ = track_source(
                predictor, source, prompts, tmp, overlay=tmp / "overlay.mp4" if settings.overlay else None,
                rle=tmp / "masks.json" if settings.rle else None, direction=settings.direction, max_frames=settings.max_frames,
                everything=everything, on_frame=on_frame)
            (tmp / DONE).write_text(json.dumps({"fingerprint": fingerprint(job, settings), "video": str(job.video),
                                                "frames": result.frames}))
        result.status = "done"
    except MaskletError as exc:
        result.error = str(exc)
    except Exception as exc:  # a broken file PyAV cannot read, say: this video fails, not the batch
        first = (str(exc).strip().splitlines() or [""])[0]
        result.error = f"{type(exc).__name__}: {first}"
    result.seconds = round(time.monotonic() - started, 3)
    return result


class TrackWorker:
    """A Ray actor: one loaded model, videos tracked one after another."""

    def __init__(self, settings: TrackSettings) -> None:
        from .backends import video_predictor

        self.settings = settings
        if settings.threads:
            _limit_threads(settings.threads)
        self.predictor = video_predictor(settings.model, settings.checkpoint, settings.device, settings.speed, settings.graphs)

    def track(self, job: BatchJob, out_dir: str) -> VideoResult:
        return track_video(self.predictor, job, Path(out_dir), self.settings, on_frame=_crash_hook(job))


def _limit_threads(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _crash_hook(job: BatchJob) -> Callable[[int], None] | None:
    """Tests: with MASKLET_BATCH_CRASH_ONCE=NAME:MARKER, the worker dies at the third frame
    of NAME the first time (MARKER remembers it), as a machine lost mid-video would."""
    spec = os.environ.get(CRASH_HOOK)
    if not spec or spec.split(":", 1)[0] != job.output:
        return None
    marker = Path(spec.split(":", 1)[1])
    if marker.exists():
        return None

    def die(frame: int) -> None:
        if frame >= 2:
            marker.write_text("died once\n")
            os._exit(1)

    return die


# -- many videos on Ray ----------------------------------------------------------------


def track_many(manifest: str | os.PathLike | Iterable[BatchJob], out_dir: str | os.PathLike,
               settings: TrackSettings = TrackSettings(), ray_address: str | None = None, workers: int | None = None,
               progress: bool = True) -> list[VideoResult]:
    """Track every video of a manifest on a Ray cluster; outputs in `out_dir/NAME/`, the
    summary in `out_dir/batch_summary.json` (and .csv). Returns the summary's records."""
    jobs = read_manifest(manifest, settings.everything) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
    _check_unique(jobs, "the jobs")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out} exists and is not a folder: choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, VideoResult] = {}
    todo = []
    for job in jobs:
        if is_complete(job, out, settings):
            done = json.loads((out / job.output / DONE).read_text())
            results[job.output] = VideoResult(job.output, str(job.video), "skipped", frames=int(done.get("frames", 0)))
        elif job.problem:
            results[job.output] = track_video(None, job, out, settings)
        else:
            remove_partial(out, job.output)  # left by an earlier run that was killed
            todo.append(job)
    write_summary(out, jobs, results)
    if todo:
        _run_on_ray(todo, out, settings, ray_address, workers, progress, jobs, results)
    return [results[job.output] for job in jobs]


def _run_on_ray(todo: list[BatchJob], out: Path, settings: TrackSettings, ray_address: str | None, workers: int | None,
                progress: bool, jobs: list[BatchJob], results: dict[str, VideoResult]) -> None:
    frames, clock = 0, time.monotonic()

    def finished(job: BatchJob, result: VideoResult | None, error: str | None, attempt: int) -> str:
        nonlocal frames
        remove_partial(out, job.output)  # what a worker that died left half-written
        if result is None:
            result = VideoResult(job.output, str(job.video), "failed", error)
        result.attempts = attempt
        results[job.output] = result
        frames += result.frames
        write_summary(out, jobs, results)
        done = sum(r.status == "done" for r in results.values())
        failed = sum(r.status == "failed" for r in results.values())
        return f"done {done}, failed {failed}, {frames / max(time.monotonic() - clock, 1e-9):.1f} frames/s"

    ray_map(TrackWorker, lambda threads: (replace(settings, threads=settings.threads or threads),), todo,
            lambda actor, job: actor.track.remote(job, str(out)), finished, ray_address, workers, progress, "videos")


def ray_map(worker: type, worker_args: Callable[[int], tuple], items: list, call: Callable, finished: Callable,
            ray_address: str | None, workers: int | None, progress: bool, desc: str) -> None:
    """Hand `items` to worker actors (`worker(*worker_args(threads))`, each keeping what it
    loads), one at a time each: `call(actor, item)` starts one, `finished(item, value,
    error, attempt)` takes its answer (or the error of an item that failed or whose worker
    died more than twice) and returns the progress bar's postfix."""
    from tqdm import tqdm

    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 **({} if ray_address else {"num_cpus": os.cpu_count()}))
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        count = max(1, min(workers or cpus, len(items)))
        threads = max(1, cpus // count)
        env = {k: os.environ[k] for k in (CRASH_HOOK,) if k in os.environ}
        actor_class = ray.remote(worker).options(num_cpus=threads, max_restarts=0, runtime_env={"env_vars": env} if env else None)
        args = worker_args(threads)
        queue = [(item, 1) for item in items]
        idle = [actor_class.remote(*args) for _ in range(count)]
        running: dict = {}  # future -> (actor, item, attempt)
        bar = tqdm(total=len(items), desc=desc, unit=desc.rstrip("s"), disable=not progress)
        while queue or running:
            while queue and idle:
                item, attempt = queue.pop(0)
                actor = idle.pop()
                running[call(actor, item)] = (actor, item, attempt)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for future in ready:
                actor, item, attempt = running.pop(future)
                value, error = None, None
                try:
                    value = ray.get(future)
                    idle.append(actor)
                except ray.exceptions.RayActorError as exc:  # the worker died (its machine, its memory): a new one
                    ray.kill(actor, no_restart=True)
                    idle.append(actor_class.remote(*args))
                    if attempt <= MAX_RETRIES:
                        queue.append((item, attempt + 1))
                        continue
                    first = (str(exc).strip().splitlines() or [""])[0]
                    error = f"its worker died {attempt} times ({first})"
                except ray.exceptions.RayTaskError as exc:
                    idle.append(actor)
                    error = str(exc.cause) if exc.cause is not None else str(exc)
                bar.set_postfix_str(finished(item, value, error, attempt) + f", running {len(running)}")
                bar.update(1)
        bar.close()
        for actor in idle:
            ray.kill(actor, no_restart=True)
    finally:
        if started_here:
            ray.shutdown()


def remove_partial(out: Path, name: str) -> None:
    """Remove the unfinished output folders of one video (masklet's own `.NAME.*.part`)."""
    import shutil

    for partial in out.glob(f".{name}.*.part"):
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)


def _ray():
    try:
        import ray
    except ImportError:
        raise BadInput("batch work runs on Ray: pip install 'masklet[ray]'") from None
    return ray


def write_summary(out: Path, jobs: Sequence[BatchJob], results: dict[str, VideoResult]) -> None:
    """batch_summary.json (a list of {"output", "video", "status", "error", "frames",
    "seconds"}) and batch_summary.csv, in manifest order, written atomically."""
    records = [asdict(results[job.output]) for job in jobs if job.output in results]
    for record in records:
        record.pop("attempts", None)
    with atomic_path(out / SUMMARY) as tmp:
        tmp.write_text(json.dumps(records, indent=1))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["output", "video", "status", "error", "frames", "seconds"])
    writer.writeheader()
    writer.writerows(records)
    with atomic_path(out / Path(SUMMARY).with_suffix(".csv").name) as tmp:
        tmp.write_text(buffer.getvalue())


# -- evaluation sharded across workers ---------------------------------------------------


class EvalWorker:
    """A Ray actor: the model (and its baselines) scoring whole sequences."""

    def __init__(self, config: str, checkpoint: str | None, image_size: int | None, baselines: tuple[str, ...], threads: int) -> None:
        from .eval.vos import vos_segmenters

        _limit_threads(threads)
        _, self.segmenters = vos_segmenters(config, checkpoint, image_size, baselines)

    def score(self, root: str, name: str, out_dir: str | None) -> dict[str, list]:
        from .eval.vos import evaluate_sequence

        return {label: evaluate_sequence(Path(root), name, segmenter, Path(out_dir) if out_dir and i == 0 else None)
                for i, (label, segmenter) in enumerate(self.segmenters.items())}


def evaluate_many(dataset: str | os.PathLike, config: str = "masklet-nano", checkpoint: str | None = None,
                  image_size: int | None = None, baselines: tuple[str, ...] = (), save_masks: str | os.PathLike | None = None,
                  ray_address: str | None = None, workers: int | None = None, progress: bool = True) -> dict:
    """`masklet eval` with its sequences shared out to Ray workers: the same results (one
    VosResult per method, objects in sequence order) as the single-process run."""
    from .data.davis import list_sequences
    from .eval.vos import VosResult

    root = Path(dataset)
    names = list_sequences(root)
    scores: dict[str, dict] = {}
    problems: list[str] = []

    def finished(name: str, value: dict | None, error: str | None, attempt: int) -> str:
        if value is None:
            problems.append(f"{name}: {error}")
        else:
            scores[name] = value
        return f"{len(scores)} scored"

    ray_map(EvalWorker, lambda threads: (config, checkpoint, image_size, tuple(baselines), threads), names,
            lambda actor, name: actor.score.remote(str(root), name, str(save_masks) if save_masks else None),
            finished, ray_address, workers, progress, "sequences")
    if problems:
        raise BadInput("evaluation failed on " + "; ".join(problems))
    labels = next(iter(scores.values())).keys()
    return {label: VosResult([o for name in names for o in scores[name][label]]) for label in labels}
