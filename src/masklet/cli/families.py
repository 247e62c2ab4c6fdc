"""`masklet test-families`: the independent test families (masklet.eval.families)."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command("test-families")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("-n", "--num-sequences", type=click.IntRange(min=1), default=12, show_default=True, help="sequences per family")
@click.option("--family", "families", multiple=True, type=click.Choice(["shapes", "cutouts"]),
              help="which families (default: all), repeatable")
@click.option("--frames", type=click.IntRange(min=2), default=16, show_default=True, help="frames per sequence")
@click.option("--first", type=click.IntRange(min=0), default=0, show_default=True,
              help="the first seed: another draw (e.g. 1000) that no earlier choice looked at")
@click.option("--force", is_flag=True, help="replace an existing folder that masklet did not write")
def test_families(out: Path, num_sequences: int, families: tuple[str, ...], frames: int, first: int, force: bool) -> None:
    """Write the test families, each a DAVIS-layout dataset OUT/FAMILY: made by other code
    than `masklet generate` (other photos, seeds and choices), for `masklet eval OUT`."""
    from ..eval.families import FAMILIES, FamilySpec, write_family
    from ..masks_io import output_folder

    chosen = families or FAMILIES
    with output_folder(out, force=force) as tmp:
        for family in chosen:
            write_family(tmp / family, family, num_sequences, FamilySpec(frames=frames), first=first)
    click.echo(f"wrote {num_sequences} sequences of {', '.join(chosen)} to {out}: score a model with `masklet eval {out}`")
