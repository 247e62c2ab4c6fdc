"""`masklet models`: what can be run, what is cached, and downloading official weights."""

from __future__ import annotations

import click

from . import main


def parameter_count(name: str) -> int:
    """Parameters of a preset, counted on the meta device (nothing allocated)."""
    import torch

    from ..model import Sam2
    from ..presets import get_config

    with torch.device("meta"):
        model = Sam2(get_config(name))
    return sum(p.numel() for p in model.parameters())


def model_rows() -> list[dict[str, str]]:
    """One row per known model: name, parameters, weights file size, where the weights are."""
    from ..checkpoint import EMBEDDED_WEIGHTS, OFFICIAL_CHECKPOINTS, cache_dir, embedded_weights
    from ..presets import NANO

    rows = []
    for name in (NANO, *OFFICIAL_CHECKPOINTS):
        params = f"{parameter_count(name) / 1e6:.1f}M"
        if name in EMBEDDED_WEIGHTS:
            path = embedded_weights(name)
            rows.append({"model": name, "params": params, "size": f"{path.stat().st_size / 1e6:.0f} MB", "weights": "packaged",
                         "where": str(path)})
            continue
        entry = OFFICIAL_CHECKPOINTS[name]
        cached = cache_dir() / entry.filename
        rows.append({"model": name, "params": params, "size": f"{entry.size_mb} MB",
                     "weights": "cached" if cached.is_file() else "download",
                     "where": str(cached) if cached.is_file() else entry.url})
    return rows


@main.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the known models (masklet-nano and the official checkpoints) and the local cache."""
    if ctx.invoked_subcommand is not None:
        return
    from ..checkpoint import cache_dir

    rows = model_rows()
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in rows[0]}
    click.echo("  ".join(k.ljust(widths[k]) for k in widths))
    for r in rows:
        click.echo("  ".join(r[k].ljust(widths[k]) for k in widths))
    click.echo(f"\ncache: {cache_dir()} (set MASKLET_CACHE to move it); `masklet models download NAME` fetches one")


@models.command()
@click.argument("name")
@click.option("--hub", is_flag=True, help="fetch from the Hugging Face hub instead of the official URL")
@click.option("-q", "--quiet", is_flag=True)
def download(name: str, hub: bool, quiet: bool) -> None:
    """Download the official checkpoint NAME (e.g. sam2.1_hiera_t) into the cache, checksummed."""
    from ..checkpoint import EMBEDDED_WEIGHTS, resolve_checkpoint
    from ..presets import canonical_name

    canonical = canonical_name(name)
    if canonical in EMBEDDED_WEIGHTS:
        click.echo(f"{canonical} ships inside the package: nothing to download")
        return
    path, _ = resolve_checkpoint(canonical, progress=not quiet, source="hub" if hub else "url")
    click.echo(f"{canonical}: {path}")
