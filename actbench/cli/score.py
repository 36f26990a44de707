"""``actbench score``: the online-action-detection metrics and the DScore of prediction files.

Only parses arguments and calls :mod:`actbench.evaluators.oad_report`; needs no torch.

    actbench score oad --pred P.json --gt G.json --fps 4 [--background background] [--ignore ambiguous]
                       [--scores S.npz] [--classes classes.txt] [--json]
    actbench score dscore --pred P.json --gt G.json [--background background] [--ignore ambiguous] [--json]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from actbench.cli.common import user_errors

app = typer.Typer(help="Score prediction files: OAD metrics, DScore.", no_args_is_help=True)

PRED = typer.Option(..., "--pred", help="P.json: video id -> list of predicted per-frame labels.")
GT = typer.Option(..., "--gt", help="G.json: video id -> list of ground-truth per-frame labels.")
BACKGROUND = typer.Option(["background"], "--background", help="Background label (repeatable).")
IGNORE = typer.Option(["ambiguous"], "--ignore",
                      help="Label whose ground-truth frames are not scored, e.g. THUMOS' ambiguous (repeatable; "
                           "--ignore '' for none).")
AS_JSON = typer.Option(False, "--json", help="Print one JSON object instead of a table.")


def _labels(values: list[str]) -> list[str]:
    return [value for value in values if value]  # '' switches a default off


def _print(metrics: dict[str, float], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    width = max(map(len, metrics))
    for name, value in metrics.items():
        typer.echo(f"{name:<{width}}  {value:8.2f}")


@app.command("oad")
@user_errors
def oad(pred: Path = PRED, gt: Path = GT,
        fps: float = typer.Option(..., "--fps", help="Frames per second of the label sequences."),
        background: list[str] = BACKGROUND, ignore: list[str] = IGNORE,
        scores: Optional[Path] = typer.Option(None, "--scores",
                                              help="S.npz: per-video (frames x classes) scores and __classes__, "
                                                   "for the per-frame mAP."),
        classes: Optional[Path] = typer.Option(None, "--classes",
                                               help="The dataset's class list (one per line, or a JSON list): "
                                                    "C of the balanced segment F1."),
        as_json: bool = AS_JSON) -> None:
    """Segment F1 @ IoU, point F1 @ 1 s / 2 s, frame accuracy (and mAP), in percent."""
    from actbench.evaluators.oad_report import score_oad_files

    metrics = score_oad_files(pred, gt, fps=fps, background=_labels(background), ignore=_labels(ignore),
                              scores_path=scores, classes_path=classes)
    _print(metrics, as_json)


@app.command("dscore")
@user_errors
def dscore(pred: Path = PRED, gt: Path = GT, background: list[str] = BACKGROUND, ignore: list[str] = IGNORE,
           as_json: bool = AS_JSON) -> None:
    """Diversity of misclassifications (mean entropy of each class's errors, background errors left out)."""
    from actbench.evaluators.oad_report import score_dscore_files

    _print(score_dscore_files(pred, gt, background=_labels(background), ignore=_labels(ignore)), as_json)
