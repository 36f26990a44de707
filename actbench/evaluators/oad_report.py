"""All online-action-detection metrics at once, and the P.json / G.json / S.npz files they read.

Files (validated here, once, at the boundary):

- ``P.json`` (predictions) and ``G.json`` (ground truth): one JSON object mapping each video id to the
  list of its per-frame labels (class names; integers are read as their decimal names). Both must hold
  the same videos with the same number of frames.
- ``S.npz`` (optional, for the per-frame mAP): one float array (T, C) of per-frame class scores per
  video id, plus ``__classes__``, the C class names of the columns.

:func:`oad_metrics` returns, in percent, the keys the leaderboards read: ``segment_f1@0.1/0.25/0.5``,
``segment_precision@0.1``, ``segment_recall@0.1``, ``balanced_segment_f1@0.1``, ``point_f1@1s/2s``,
``point_precision@1s``, ``point_recall@1s``, ``frame_accuracy`` and, with scores, ``frame_map``.

>>> gt = {"v1": ["background"] * 4 + ["open door"] * 8, "v2": ["cut onion"] * 6 + ["ambiguous"] * 2}
>>> m = oad_metrics(gt, gt, fps=4)
>>> m["segment_f1@0.5"] > 99.99, m["point_f1@1s"], m["frame_accuracy"]
(True, 100.0, 100.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from actbench.errors import ActbenchError
from actbench.evaluators.dscore import dscore
from actbench.evaluators.frame_metrics import frame_accuracy, frame_map
from actbench.evaluators.point_f1 import point_scores
from actbench.evaluators.segment_f1 import balanced_segment_f1, segment_scores

SEGMENT_TAUS = (0.1, 0.25, 0.5)
POINT_SECONDS = (1, 2)
CLASSES_KEY = "__classes__"


@dataclass(frozen=True)
class FrameScores:
    """Per-frame class scores: ``per_video[video]`` is (T, C), column ``j`` scoring ``classes[j]``."""

    classes: tuple[str, ...]
    per_video: Mapping[str, np.ndarray]


def read_labels(path: str | Path) -> dict[str, list[str]]:
    """A P.json / G.json file: video id -> non-empty list of per-frame labels (as strings)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", "a JSON file of per-frame labels", "no such file") from None
    except json.JSONDecodeError as error:
        raise ActbenchError.bad_value(f"{path}:{error.lineno}", "json", "valid JSON", error.msg) from None
    if not isinstance(data, dict) or not data:
        raise ActbenchError.bad_value(path, "(top level)", "an object mapping each video id to its per-frame labels",
                                      type(data).__name__ if data else "an empty object")
    out = {}
    for video, labels in data.items():
        if not isinstance(labels, list) or not labels:
            raise ActbenchError.bad_value(path, video, "a non-empty list of per-frame labels", labels)
        if not all(type(label) is str for label in labels):  # noqa: E721 - bool is an int, and is refused
            bad = next((i for i, x in enumerate(labels) if type(x) not in (str, int)), None)
            if bad is not None:
                raise ActbenchError.bad_value(path, f"{video}[{bad}]", "a label name (string or integer)", labels[bad])
            labels = [str(label) for label in labels]  # P and G may disagree on ints vs names: compare names
        out[str(video)] = labels
    return out


def read_scores(path: str | Path) -> FrameScores:
    """An S.npz file of per-frame scores (one (T, C) array per video, plus ``__classes__``)."""
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", "an .npz file of per-frame scores", "no such file") from None
    except (ValueError, OSError) as error:
        raise ActbenchError.bad_value(path, "file", "an .npz file of per-frame scores", str(error)) from None
    with npz:
        if CLASSES_KEY not in npz.files:
            raise ActbenchError.bad_value(path, CLASSES_KEY, "the class name of each score column", "no such array")
        classes = npz[CLASSES_KEY]
        if classes.ndim != 1 or classes.dtype.kind not in "U":
            raise ActbenchError.bad_value(path, CLASSES_KEY, "a 1-D array of class names",
                                          f"dtype {classes.dtype}, shape {classes.shape}")
        per_video = {}
        for video in npz.files:
            if video == CLASSES_KEY:
                continue
            scores = npz[video]
            if scores.ndim != 2 or scores.shape[1] != classes.size or scores.dtype.kind not in "fiu":
                raise ActbenchError.bad_value(path, video, f"a numeric (frames, {classes.size}) score array",
                                              f"dtype {scores.dtype}, shape {scores.shape}")
            if not np.isfinite(scores).all():
                raise ActbenchError.bad_value(path, video, "finite scores", "NaN or infinity")
            per_video[video] = scores
    return FrameScores(classes=tuple(classes.tolist()), per_video=per_video)


def read_classes(path: str | Path) -> list[str]:
    """A class list: a JSON list of names, or a text file with one name per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", "a class list", "no such file") from None
    if path.suffix == ".json":
        names = json.loads(text)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ActbenchError.bad_value(path, "(top level)", "a JSON list of class names", type(names).__name__)
        return names
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_videos(pred: Mapping[str, Sequence], gt: Mapping[str, Sequence], *, pred_origin: object = "pred",
                 gt_origin: object = "gt") -> None:
    """Predictions cover exactly the ground truth's videos, each with its number of frames."""
    missing = [v for v in gt if v not in pred]
    extra = [v for v in pred if v not in gt]
    if missing or extra:
        found = "; ".join(part for part in (
            f"{len(missing)} missing (e.g. {missing[0]!r})" if missing else "",
            f"{len(extra)} not in {gt_origin} (e.g. {extra[0]!r})" if extra else "") if part)
        raise ActbenchError.bad_value(pred_origin, "videos", f"the {len(gt)} videos of {gt_origin}", found)
    for video, labels in gt.items():
        if len(pred[video]) != len(labels):
            raise ActbenchError.bad_value(pred_origin, video, f"{len(labels)} per-frame labels, as in {gt_origin}",
                                          len(pred[video]))


def check_classes(labels: Iterable[object], classes: Sequence[str], exempt: Iterable[str], *,
                  origin: object = "classes") -> None:
    """Every label (but background and ignore ones) is in the class list."""
    unknown = set(labels) - set(classes) - set(exempt)
    if unknown:
        raise ActbenchError.bad_value(origin, "classes", "every predicted and ground-truth label",
                                      f"no {sorted(map(str, unknown))[0]!r}")


def oad_metrics(pred: Mapping[str, Sequence], gt: Mapping[str, Sequence], *, fps: float,
                background: Iterable[str] = ("background",), ignore: Iterable[str] = ("ambiguous",),
                scores: FrameScores | None = None, classes: Sequence[str] | None = None) -> dict[str, float]:
    """Every OAD metric in percent (see the module docstring); ``classes`` fixes C of the balanced F1."""
    check_videos(pred, gt)
    background, ignore = list(background), list(ignore)
    videos = sorted(gt)  # a fixed order: the metrics must not depend on the files' video order
    lengths = np.array([len(gt[v]) for v in videos], dtype=np.int64)
    vocab: dict[object, int] = {}
    # Labels become small integers once; every metric below then works on int arrays (fast compares).
    gt_codes, pred_codes = (_encode((src[v] for v in videos), int(lengths.sum()), vocab) for src in (gt, pred))
    bg_codes, ignore_codes = _codes(background, vocab), _codes(ignore, vocab)
    options = dict(lengths=lengths, background=bg_codes, ignore=ignore_codes)

    out: dict[str, float] = {}
    seg = segment_scores(pred_codes, gt_codes, taus=SEGMENT_TAUS, **options)
    for tau in SEGMENT_TAUS:
        out[f"segment_f1@{tau}"] = seg[tau][2]
    out["segment_precision@0.1"], out["segment_recall@0.1"] = seg[0.1][0], seg[0.1][1]
    class_codes = None
    if classes is not None:
        check_classes(vocab, classes, background + ignore)
        class_codes = [vocab.setdefault(name, len(vocab)) for name in classes]
    out["balanced_segment_f1@0.1"] = balanced_segment_f1(pred_codes, gt_codes, tau=0.1, classes=class_codes,
                                                         **options)
    point = point_scores(pred_codes, gt_codes, fps=fps, seconds=POINT_SECONDS, **options)
    for window in POINT_SECONDS:
        out[f"point_f1@{window}s"] = point[window][2]
    out["point_precision@1s"], out["point_recall@1s"] = point[1][0], point[1][1]
    out["frame_accuracy"] = frame_accuracy(pred_codes, gt_codes, ignore=ignore_codes)
    if scores is not None:
        out["frame_map"] = _frame_map(scores, gt, videos, gt_codes, vocab, background, ignore)
    return out


def oad_dscore(pred: Mapping[str, Sequence], gt: Mapping[str, Sequence], *, background: Iterable[str] = ("background",),
               ignore: Iterable[str] = ("ambiguous",)) -> dict[str, float]:
    """``{"dscore": ...}`` over all frames of all videos (background errors and ambiguous frames left out)."""
    check_videos(pred, gt)
    videos = sorted(gt)
    flat_gt = list(chain.from_iterable(gt[v] for v in videos))
    flat_pred = list(chain.from_iterable(pred[v] for v in videos))
    return {"dscore": dscore(flat_pred, flat_gt, background=list(background), ignore=list(ignore))}


def score_oad_files(pred_path: str | Path, gt_path: str | Path, *, fps: float,
                    background: Iterable[str] = ("background",), ignore: Iterable[str] = ("ambiguous",),
                    scores_path: str | Path | None = None, classes_path: str | Path | None = None) -> dict[str, float]:
    """:func:`oad_metrics` of the files, every file validated with its name in the error messages."""
    pred, gt = read_labels(pred_path), read_labels(gt_path)
    check_videos(pred, gt, pred_origin=pred_path, gt_origin=gt_path)
    scores = None
    if scores_path is not None:
        scores = read_scores(scores_path)
        check_videos(scores.per_video, gt, pred_origin=scores_path, gt_origin=gt_path)
    classes = None
    if classes_path is not None:
        classes = read_classes(classes_path)
        labels = set(chain.from_iterable(gt.values())) | set(chain.from_iterable(pred.values()))
        check_classes(labels, classes, list(background) + list(ignore), origin=classes_path)
    return oad_metrics(pred, gt, fps=fps, background=background, ignore=ignore, scores=scores, classes=classes)


def score_dscore_files(pred_path: str | Path, gt_path: str | Path, *, background: Iterable[str] = ("background",),
                       ignore: Iterable[str] = ("ambiguous",)) -> dict[str, float]:
    """:func:`oad_dscore` of the files."""
    pred, gt = read_labels(pred_path), read_labels(gt_path)
    check_videos(pred, gt, pred_origin=pred_path, gt_origin=gt_path)
    return oad_dscore(pred, gt, background=background, ignore=ignore)


def _encode(sequences: Iterable[Sequence], total: int, vocab: dict[object, int]) -> np.ndarray:
    # A dict lookup per label is several times faster than np.unique over 1.4 M strings.
    flat = chain.from_iterable(sequences)
    return np.fromiter((vocab.setdefault(x, len(vocab)) for x in flat), dtype=np.int64, count=total)


def _codes(names: Iterable[str], vocab: dict[object, int]) -> list[int]:
    # Unused names get a code too, so a class list naming the background still recognises it.
    return [vocab.setdefault(name, len(vocab)) for name in names]


def _frame_map(scores: FrameScores, gt: Mapping[str, Sequence], videos: list[str], gt_codes: np.ndarray,
               vocab: dict[object, int], background: list[str], ignore: list[str]) -> float:
    check_videos(scores.per_video, gt, pred_origin="scores")
    known = set(scores.classes) | set(background) | set(ignore)
    unknown = sorted(str(v) for v in set(chain.from_iterable(gt.values())) - known)
    if unknown:
        raise ActbenchError.bad_value("scores", CLASSES_KEY, "a score column for every ground-truth class",
                                      f"none for {unknown[0]!r}")
    matrix = np.concatenate([np.asarray(scores.per_video[v], dtype=np.float64) for v in videos])
    class_codes = [vocab.setdefault(name, len(vocab)) for name in scores.classes]
    # Background frames without a column of their own are negatives for every class: give them one.
    extra = [vocab[name] for name in background if name in vocab and name not in scores.classes]
    if extra:
        matrix = np.concatenate([matrix, np.zeros((matrix.shape[0], len(extra)))], axis=1)
    return frame_map(matrix, gt_codes, classes=class_codes + extra, background=_codes(background, vocab),
                     ignore=_codes(ignore, vocab))
