"""``actbench oad ground-truth``: OAD ground truth from the real label timelines.

Only parses arguments and calls :mod:`actbench.datasets.oad_ground_truth`::

    actbench oad ground-truth --dataset ek100|ego4d-goalstep --out DIR [--data-dir DIR]
                              [--target-perframe] [--video ID ...] [--labels category|description]
                              [--level step|substep]

DIR gets ``data_info.json`` (TeSTra / LSTR layout), ``G.json`` (video -> per-frame labels, what
``actbench score oad --gt`` reads), ``classes.json`` (for ``--classes``) and, with ``--target-perframe``,
``target_perframe/<video>.npy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from actbench.cli.common import user_errors

app = typer.Typer(help="Online action detection data: ground truth in the TeSTra / LSTR layout.",
                  no_args_is_help=True)


@app.command("ground-truth")
@user_errors
def ground_truth_command(
    dataset: Annotated[str, typer.Option("--dataset", help="ek100 (4 fps) or ego4d-goalstep (1 fps).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (one dataset per directory).")],
    data_dir: Annotated[Optional[Path], typer.Option(
        "--data-dir", help="Annotation data directory (default: $ACTBENCH_DATA_DIR, else the per-user cache).")] = None,
    target_perframe: Annotated[bool, typer.Option(
        "--target-perframe",
        help="Also write target_perframe/<video>.npy, uint8 T x C (EK100: about 0.7 GB).")] = False,
    videos: Annotated[Optional[list[str]], typer.Option(
        "--video", help="Only this video (repeatable; default: all validation videos).")] = None,
    labels: Annotated[str, typer.Option(
        "--labels", help="ego4d-goalstep classes: 'category' (taxonomy step names, as the GAD reference) or "
                         "'description' (the free-text step descriptions).")] = "category",
    level: Annotated[str, typer.Option("--level", help="ego4d-goalstep unit: step or substep.")] = "step",
) -> None:
    """Write the per-frame ground truth of DATASET's validation videos into OUT."""
    from actbench.datasets.oad_ground_truth import ground_truth, write_ground_truth
    from actbench.errors import ActbenchError

    options = {"labels": labels, "level": level} if dataset == "ego4d-goalstep" else {}
    if dataset != "ego4d-goalstep" and (labels, level) != ("category", "step"):
        raise ActbenchError(f"--labels / --level: options of ego4d-goalstep only, not of {dataset}")
    gt = ground_truth(dataset, data_dir, **options)
    if videos:
        gt = gt.subset(videos)
    written = write_ground_truth(gt, out, target_perframe=target_perframe)
    frames = sum(gt.lengths.values())
    typer.echo(f"{gt.dataset}: {len(gt.videos)} videos, {frames:,} frames at {gt.fps:g} fps, "
               f"{gt.num_classes:,} classes (class 0 = background)")
    for path in written.values():
        typer.echo(f"wrote {path}")
    typer.echo(f"score with: actbench score oad --pred P.json --gt {written['labels']} --fps {gt.fps:g} "
               f"--classes {written['classes']}")
