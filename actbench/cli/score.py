"""``actbench score``: the online-action-detection metrics and the DScore of prediction files.

Only parses arguments and calls :mod:`actbench.evaluators.oad_report`; needs no torch.

    actbench score oad --pred P.json --gt G.json --fps 4 [--background background] [--ignore ambiguous]
                       [--scores S.npz] [--classes classes.txt] [--json]
    actbench score dscore --pred P.json --gt G.json [--background background] [--ignore ambiguous] [--json]
    actbench score ek100-ar --source NAME --predictions FILE [--data-dir DIR] [--action-head] [--json]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from actbench.cli.common import user_errors

app = typer.Typer(help="Score prediction files: OAD metrics, DScore, EPIC-KITCHENS-100 action recognition.",
                  no_args_is_help=True)

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


@app.command("ek100-ar")
@user_errors
def ek100_ar(source: str = typer.Option(..., "--source",
                                        help="The file's format: a source of build-mqa that reads a prediction "
                                             "file (tim, avion, epic-json, llavaction, scores, ...)."),
             predictions: Path = typer.Option(..., "--predictions", help="The specialist's prediction file."),
             data_dir: Optional[Path] = typer.Option(None, "--data-dir",
                                                     help="Annotation data (default $ACTBENCH_DATA_DIR)."),
             action_head: bool = typer.Option(False, "--action-head",
                                              help="tim: rank actions by the file's action scores instead of "
                                                   "the official derivation from its verb and noun scores."),
             as_json: bool = AS_JSON) -> None:
    """EPIC-KITCHENS-100 validation: verb / noun / action top-1 and top-5, unseen and tail top-1, in percent."""
    import math

    from actbench.datasets.epic_kitchens import EpicKitchens100
    from actbench.evaluators.ek100_recognition import load_recognition_inputs, score_recognition

    dataset = EpicKitchens100.from_data_dir(data_dir)
    inputs = load_recognition_inputs(source, predictions, dataset, action_head=action_head)
    metrics = score_recognition(inputs, dataset)
    n, total = len(inputs.narration_ids), len(dataset.validation)
    if n < total:  # the official evaluator, too, scores the clips the file has
        typer.echo(f"note: {predictions} scores {n} of the {total} validation clips; the metrics are over those",
                   err=True)
    if not inputs.verb_noun_from_file:
        typer.echo(f"note: {predictions} has action scores only; verb and noun scores are its action "
                   "probabilities summed per verb / noun", err=True)
    clean = {k: (None if math.isnan(v) else v) for k, v in metrics.items()}  # no clip in the subset
    if as_json:
        typer.echo(json.dumps(clean))
        return
    width = max(map(len, clean))
    for name, value in clean.items():
        typer.echo(f"{name:<{width}}  " + ("     n/a" if value is None else f"{value:8.2f}"))
