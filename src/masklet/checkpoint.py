"""Checkpoints: official `.pt` files and safetensors, loaded strictly, with a clear report.

Also the registry of official checkpoints (download URLs, hub ids) and a download cache
with a progress bar and a SHA-256 check. Files are written atomically: a download that
fails half-way leaves nothing behind that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_path
from .errors import CheckpointMismatch, NotFound
from .presets import EDGETAM, NANO, OFFICIAL_NAMES, SIZE_WORDS, canonical_name

_FB_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2"


# The name masklet has used for it since the start.
CheckpointError = CheckpointMismatch


@dataclass(frozen=True)
class OfficialCheckpoint:
    """Where an official checkpoint lives and how to recognise it."""

    config: str  # preset name, e.g. "sam2.1_hiera_t"
    filename: str  # e.g. "sam2.1_hiera_tiny.pt"
    url: str
    hub_id: str  # e.g. "facebook/sam2.1-hiera-tiny"
    size_mb: int  # approximate file size
    sha256: str | None = None  # when known; otherwise recorded on first download
    hub_file: str | None = None  # the file's path in the hub repository, if not `filename`

    @property
    def hub_url(self) -> str:
        endpoint = os.environ.get("MASKLET_HUB_ENDPOINT", "https://huggingface.co").rstrip("/")
        return f"{endpoint}/{self.hub_id}/resolve/main/{self.hub_file or self.filename}"


_SIZES_MB = {"t": 156, "s": 185, "b+": 324, "l": 898}


def _official() -> dict[str, OfficialCheckpoint]:
    table = {}
    for name in OFFICIAL_NAMES:
        if name == EDGETAM:
            continue
        version, size = name.split("_hiera_")
        word = SIZE_WORDS[size]
        release = "092824" if version == "sam2.1" else "072824"
        filename = f"{version}_hiera_{word}.pt"
        table[name] = OfficialCheckpoint(
            config=name,
            filename=filename,
            url=f"{_FB_BASE}/{release}/{filename}",
            hub_id=f"facebook/{version}-hiera-{word.replace('_', '-')}",
            size_mb=_SIZES_MB[size],
        )
    # EdgeTAM's checkpoint lives in its GitHub repository; its authors' demo Space
    # on the hub holds the same file.
    table[EDGETAM] = OfficialCheckpoint(
        config=EDGETAM,
        filename="edgetam.pt",
        url="https://github.com/facebookresearch/EdgeTAM/raw/main/checkpoints/edgetam.pt",
        hub_id="spaces/chongzhou/EdgeTAM",
        hub_file="checkpoints/edgetam.pt",
        size_mb=54,
    )
    return table


OFFICIAL_CHECKPOINTS: dict[str, OfficialCheckpoint] = _official()


# Weights that ship inside the package: no download, no cache.
WEIGHTS_DIR = Path(__file__).parent / "weights"
EMBEDDED_WEIGHTS: dict[str, str] = {NANO: "masklet-nano.safetensors"}


def embedded_weights(name: str) -> Path:
    """The packaged weights file of an embedded model (masklet-nano)."""
    path = WEIGHTS_DIR / EMBEDDED_WEIGHTS[canonical_name(name)]
    if not path.is_file():
        raise NotFound(
            f"the packaged weights {path} are missing: reinstall masklet, or retrain them with scripts/train_nano.sh"
        )
    return path


def cache_dir() -> Path:
    """Where downloaded checkpoints live: $MASKLET_CACHE, else ~/.cache/masklet."""
    return Path(os.environ.get("MASKLET_CACHE", Path.home() / ".cache" / "masklet"))


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the state dict of a `.pt` ({"model": ...} or bare) or `.safetensors` file."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointMismatch(f"{path} is not a readable safetensors file: {exc}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointMismatch(
            f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); "
            "expected an official SAM 2 .pt file holding {'model': state_dict}"
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointMismatch(f"{path} holds no state dict: expected {{'model': state_dict}} or a bare state dict")
    return obj


def guess_config(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The official preset whose keys and shapes a state dict matches, if any."""
    from .model import Sam2
    from .presets import PRESETS

    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    for name in OFFICIAL_NAMES:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in Sam2(PRESETS[name]).state_dict().items()}
        if expected == shapes:
            return name
    return None


def check_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], config_name: str, source: str) -> None:
    """Raise CheckpointError naming missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    lines = [f"checkpoint {source} does not fit config {config_name!r}:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            lines.append(f"  {len(items)} {title}: {', '.join(items[:5])}{more}")
    guess = guess_config(state_dict)
    if guess:
        lines.append(f"  this checkpoint matches config {guess!r}: build the model with that config")
    else:
        lines.append("  check that the file is an official SAM 2 / SAM 2.1 checkpoint of the same size")
    raise CheckpointMismatch("\n".join(lines))


def load_checkpoint(model: nn.Module, path: str | os.PathLike, config_name: str = "?") -> None:
    """Load a checkpoint file into `model` with a strict load, after a readable check."""
    state_dict = read_state_dict(path)
    check_state_dict(model, state_dict, config_name, str(path))
    model.load_state_dict(state_dict, strict=True)


def save_safetensors(state_dict: dict[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """Write a state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp))
    return Path(path)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool = True) -> Path:
    """Fetch `url` to `dest` atomically, with a progress bar; verify SHA-256 when given."""
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(total, dest.name, progress)
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
            bar.close()
        if sha256 and digest.hexdigest() != sha256.lower():
            raise CheckpointMismatch(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {digest.hexdigest()}; "
                "the download is corrupt or the file changed: delete the cache entry and retry"
            )
    return dest


def _progress_bar(total: int | None, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=not enabled)


def _verify_cached(path: Path, expected: str | None) -> None:
    """Check a cached file against its known or first-seen SHA-256 (kept beside it)."""
    record = path.with_name(path.name + ".sha256")
    actual = sha256_of(path)
    known = expected or (record.read_text().strip() if record.exists() else None)
    if known and known.lower() != actual:
        raise CheckpointMismatch(
            f"cached checkpoint {path} fails its checksum (expected {known}, got {actual}): "
            f"delete it and download again"
        )
    if not record.exists():
        record.write_text(actual + "\n")


def resolve_checkpoint(spec: str | os.PathLike, progress: bool = True, source: str = "auto") -> tuple[Path, str | None]:
    """Turn a path, URL, hub id or model name into a local file (and its config name).

    A local path is used as is. A URL is downloaded into the cache. A hub id
    ("facebook/sam2.1-hiera-tiny") or official name ("sam2.1_hiera_t") resolves to the
    official file, downloaded once (from the hub for `source="hub"`, else the official URL)
    and checked against its SHA-256 on every later use; "masklet-nano" is the packaged file.
    """
    text = str(spec)
    if Path(text).expanduser().is_file():
        return Path(text).expanduser(), None
    if "://" in text:
        dest = cache_dir() / "urls" / hashlib.sha256(text.encode()).hexdigest()[:16] / Path(text).name
        if not dest.is_file():
            download(text, dest, progress=progress)
        _verify_cached(dest, None)
        return dest, None
    try:
        name = canonical_name(text)
    except ValueError:
        raise NotFound(
            f"checkpoint {text!r} is neither a file, a URL, a hub id nor an official model name"
        ) from None
    if name in EMBEDDED_WEIGHTS:
        return embedded_weights(name), name
    entry = OFFICIAL_CHECKPOINTS[name]
    dest = cache_dir() / entry.filename
    if not dest.is_file():
        use_hub = source == "hub" or (source == "auto" and text.lower().startswith("facebook/"))
        download(entry.hub_url if use_hub else entry.url, dest, sha256=entry.sha256, progress=progress)
    _verify_cached(dest, entry.sha256)
    return dest, name


__all__ = [
    "CheckpointError",
    "CheckpointMismatch",
    "OFFICIAL_CHECKPOINTS",
    "OfficialCheckpoint",
    "cache_dir",
    "check_state_dict",
    "download",
    "guess_config",
    "load_checkpoint",
    "read_state_dict",
    "resolve_checkpoint",
    "save_safetensors",
]
