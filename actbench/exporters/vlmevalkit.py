"""VLMEvalKit's multiple-choice TSV: ``NAME.tsv`` plus ``NAME.actbench.json`` (provenance and hashes).

VLMEvalKit (open-compass/VLMEvalKit) reads an unknown dataset NAME from ``$LMUData/NAME.tsv`` with
``pd.read_csv(path, sep='\\t')``; a table with columns ``A`` and ``B`` is a custom multiple-choice
dataset (``CustomMCQDataset`` when it has ``image_path``, ``CustomTextMCQDataset`` without). The
columns written, in order:

- ``index``: the question's 0-based position in ``questions.jsonl`` (all integers, so VLMEvalKit keeps
  them as ints); ``id`` (last column) is actbench's question id.
- ``question``: the stem; VLMEvalKit's prompt adds ``Options:`` and ``A. ...`` lines itself.
- ``A``, ``B``, ...: one column per letter up to the benchmark's largest option count, empty where a
  question has fewer options (pandas reads the empty cell as NaN and VLMEvalKit leaves that letter out).
- ``answer``: the key letter; empty for a two-stage question whose options miss the truth (it can
  only be scored wrong, as in actbench).
- ``category``: the benchmark's name (VLMEvalKit's ``report_acc`` reports accuracy per category).
- ``image_path`` (with a frames root): the N frame paths as a Python list literal, which VLMEvalKit's
  ``toliststr`` turns into N images: the EPIC ``rgb_frames`` JPEGs nearest to the runner's sample
  times (segment centres of N bins, frames at 50 fps, :mod:`actbench.model_adapters.video`), so the
  model sees the frames ``actbench run --video-layout rgb_frames`` shows it.
- ``video_path`` (without a frames root): ``P01/videos/P01_01.MP4``, relative to the video root, as
  VLMEvalKit's video datasets join it with their data root.
- ``video``, ``start``, ``end``: the video id and the segment in seconds, always.

A cell that pandas would read as missing (``NA``, ``null``, ``None``, ...) would silently drop an option,
so such text is refused. Bytes are deterministic: ``\\n`` line ends, minimal CSV quoting.

>>> rgb_frame_paths("P01_11", 0.0, 1.0, 2)
['P01/rgb_frames/P01_11/frame_0000000013.jpg', 'P01/rgb_frames/P01_11/frame_0000000038.jpg']
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from actbench.atomic import dumps_json, sha256_bytes
from actbench.errors import ActbenchError
from actbench.exporters import ExportFormat, ExportOptions, benchmark_provenance
from actbench.exporters.licences import licence_of
from actbench.mqa_builder.benchmark_dir import QUESTIONS, Benchmark
from actbench.records import LETTERS

SCHEMA_VERSION = 1
# pandas' default missing-value strings (pandas._libs.parsers.STR_NA_VALUES, pandas 2.x); a test keeps
# this copy equal to pandas' own, without making pandas a dependency of the export.
PANDAS_NA_STRINGS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})
# The runner's rgb_frames reading (model_adapters/video.py): frame k (1-based) is shown at (k - 1) / fps.
RGB_FPS = 50.0


def rgb_frame_number(t: float, fps: float = RGB_FPS) -> int:
    """The 1-based number of the frame nearest to time ``t`` (ties to the earlier), as the runner reads it.

    >>> rgb_frame_number(0.0), rgb_frame_number(0.01), rgb_frame_number(0.0101)
    (1, 1, 2)
    """
    from actbench.model_adapters.video import rgb_frame_number as runners_rule

    return runners_rule(t, fps)


def rgb_frame_paths(video_id: str, start: float, end: float, n_frames: int, fps: float = RGB_FPS) -> list[str]:
    """The question's N frame files under an ``rgb_frames`` root: ``P01/rgb_frames/P01_01/frame_%010d.jpg``."""
    from actbench.model_adapters.video import sample_times

    participant = video_id.split("_", 1)[0]
    return [f"{participant}/rgb_frames/{video_id}/frame_{rgb_frame_number(t, fps):010d}.jpg"
            for t in sample_times(start, end, n_frames)]


def _checked_video_id(video_id: str, where: str) -> str:
    from actbench.model_adapters.video import check_video_id

    try:
        return check_video_id(video_id)
    except ValueError as exc:
        raise ActbenchError.bad_value(where, "video_id", "a bare EPIC-style video id such as P01_01",
                                      str(exc)) from None


def _text(value: str, where: str, field: str) -> str:
    if value in PANDAS_NA_STRINGS:
        raise ActbenchError.bad_value(where, field, "text that pandas / VLMEvalKit do not read as a missing value",
                                      repr(value))
    return value


def table(bench: Benchmark, options: ExportOptions) -> tuple[list[str], list[list[str]]]:
    """The TSV's header and rows (cells as text), one row per question in benchmark order."""
    letters = list(LETTERS[: max(len(q.options) for q in bench.questions)])
    media = ["image_path"] if options.frames_root is not None else ["video_path"]
    columns = ["index", "question", *letters, "answer", "category", *media, "video", "start", "end", "id"]
    root = Path(options.frames_root).as_posix() if options.frames_root is not None else None
    category = _text(bench.name, f"{bench.path}", "name")
    rows = []
    for index, q in enumerate(bench.questions):
        where = f"{bench.path / QUESTIONS} (question {q.id})"
        video_id = _checked_video_id(q.video_id, where)
        cells = [_text(o, where, f"options[{i}]") for i, o in enumerate(q.options)]
        cells += [""] * (len(letters) - len(cells))
        if root is not None:
            paths = [f"{root}/{p}" for p in rgb_frame_paths(video_id, q.start, q.end, options.n_frames)]
            media_cell = repr(paths)
        else:
            media_cell = f"{video_id.split('_', 1)[0]}/videos/{video_id}.MP4"
        rows.append([str(index), _text(q.question, where, "question"), *cells, q.answer_letter or "", category,
                     media_cell, video_id, repr(float(q.start)), repr(float(q.end)), _text(q.id, where, "id")])
    return columns, rows


def tsv_bytes(columns: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _media(options: ExportOptions) -> dict[str, Any]:
    from actbench.model_adapters.video import FRAME_CHOICE, TIME_CONVENTION

    if options.frames_root is None:
        return {"column": "video_path", "layout": "video", "relative_to": "the EPIC-KITCHENS video root",
                "pattern": "<participant>/videos/<video_id>.MP4"}
    return {"column": "image_path", "layout": "rgb_frames", "root": Path(options.frames_root).as_posix(),
            "pattern": "<root>/<participant>/rgb_frames/<video_id>/frame_<k:010d>.jpg",
            "n_frames": options.n_frames, "fps": RGB_FPS, "time_convention": TIME_CONVENTION,
            "frame_choice": FRAME_CHOICE}


def write(bench: Benchmark, folder: Path, options: ExportOptions) -> list[str]:
    columns, rows = table(bench, options)
    body = tsv_bytes(columns, rows)
    tsv_name, sidecar_name = f"{bench.name}.tsv", f"{bench.name}.actbench.json"
    licence = licence_of(bench.manifest.dataset)
    sidecar = {
        "schema_version": SCHEMA_VERSION,
        "format": "vlmevalkit-mcq-tsv",
        "benchmark": benchmark_provenance(bench),
        "tsv": {"file": tsv_name, "sha256": sha256_bytes(body), "rows": len(rows), "columns": columns,
                "index": "0-based position of the question in questions.jsonl; column id is the question id"},
        "media": _media(options),
        "licence": {"id": licence.hf_id, "name": licence.name, "url": licence.url, "terms": licence.terms,
                    "origin": licence.origin, "credit": licence.credit},
        "use": f"copy {tsv_name} into $LMUData (default ~/LMUData) and run VLMEvalKit with --data {bench.name}",
    }
    (folder / tsv_name).write_bytes(body)
    (folder / sidecar_name).write_text(dumps_json(sidecar), encoding="utf-8")
    return [tsv_name, sidecar_name]


FORMAT = ExportFormat("vlmevalkit", write, takes_frames=True)
