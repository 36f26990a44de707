"""Animal Kingdom action recognition (Ng et al., CVPR 2022) as a multi-label :class:`SegmentDataset`.

The dataset sits behind a request form, so nothing is downloaded: the user places the official
``action_recognition`` folder under ``<data dir>/animal-kingdom/`` (see :data:`OFFICIAL`). Files read:

- ``action_recognition/annotation/train.csv`` and ``val.csv``: the Charades frame lists of SlowFast,
  space-separated, one line per frame, header ``original_vido_id video_id frame_id path labels type``
  (the release adds ``type``, ``train`` or ``test``; the 5-column Charades header without it is accepted
  too). Example line: ``AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 2,40 train``; ``frame_id`` counts
  from 1, ``labels`` are comma-separated class indices (SlowFast strips ``"`` around them).
- ``action_recognition/annotation/df_action.xlsx``: the 140 classes, header ``S/N, action_category,
  action, index, segment, count`` (sheet ``AR_count``); only ``index`` and ``action`` are read. It is
  read with openpyxl when that is installed; ``df_action.csv`` (the same sheet saved as CSV) is read
  instead when present, and needs nothing.

Format sources: the official README_action_recognition.md (Charades format, SlowFast configs with
``DATASET: charades`` and 140 classes) and two independent public readers of the released files that
quote the header, an example line and the ``df_action.xlsx`` columns (the files themselves are not
public). A clip (``original_vido_id``, also the video file's stem ``video/<id>.mp4``) is one segment:
its labels are every class of its frames, in order of first appearance (``class_key`` the first); its
span is the whole clip, ``0`` to ``last frame_id / FRAME_RATE`` seconds, FRAME_RATE being 24 fps (the
frame rate of the release's videos as reported; the frame lists give no times). Animal Kingdom has no
participants: the ``prior`` source sees one group.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "animal-kingdom"; folder = root / ANNOTATION_DIR
>>> folder.mkdir(parents=True)
>>> _ = (folder / "df_action.csv").write_text("S/N,action_category,action,index,segment,count\\n"
...                                           "1,Feeding,Eating,0,head,10\\n2,General,Keeping still,1,head,9\\n")
>>> _ = (folder / "val.csv").write_text(HEADER + "\\nAAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 1,0 test\\n"
...                                     "AAACXZTV 145 2 AAACXZTV/AAACXZTV_t000002.jpg 1,0 test\\n")
>>> s = AnimalKingdom(root).split("val")[0]
>>> s.narration_id, s.labels, s.class_key, s.end, AnimalKingdom(root).action_space.labels
('AAACXZTV', ('1', '0'), '1', 0.083333, ('eating', 'keeping still'))
"""

from __future__ import annotations

import csv
from pathlib import Path

from actbench.datasets.official_files import OfficialDataset
from actbench.datasets.segments import Segment, SegmentDataset
from actbench.errors import ActbenchError

NAME = "animal-kingdom"
ANNOTATION_DIR = "action_recognition/annotation"
FILES = {"train": "train.csv", "val": "val.csv"}
TAXONOMY_XLSX = "df_action.xlsx"
TAXONOMY_CSV = "df_action.csv"
TAXONOMY_SHEET = "AR_count"
COLUMNS = ("original_vido_id", "video_id", "frame_id", "path", "labels", "type")
HEADER = " ".join(COLUMNS)
FRAME_RATE = 24.0
LICENSE = ("Animal Kingdom: for non-commercial research only, under the terms accepted in the request form "
           "(https://sutdcv.github.io/Animal-Kingdom)")
# The LLaVAction perspective prompts (Appendix C.2) describe what the camera shows and ask for the action;
# here the subject is wild animals and several actions may be true at once.
ANIMALS = ("The video is taken in the wild and shows one or more animals. Several actions may happen at the "
           "same time. What actions are the animals doing?")

OFFICIAL = OfficialDataset(
    name=NAME,
    license=LICENSE,
    files=(),
    manual=("Animal Kingdom is shared on request: fill in the form linked from https://sutdcv.github.io/"
            "Animal-Kingdom (github.com/sutdcv/Animal-Kingdom), download the action recognition annotations "
            f"and copy the folder {ANNOTATION_DIR}/ (train.csv, val.csv, df_action.xlsx) into the data "
            "directory's animal-kingdom/ folder; the videos (video.tar.gz) are only needed to run video models"),
)


class AnimalKingdom(SegmentDataset):
    name = NAME
    splits = ("val", "train")
    default_split = "val"
    train_split = "train"
    question = ANIMALS
    license = LICENSE
    multi_label = True

    @property
    def annotation_dir(self) -> Path:
        return self.root / ANNOTATION_DIR

    def split_files(self, split: str) -> list[Path]:
        # The class list is needed to read a split at all: without it the options would be bare numbers.
        return [self.annotation_dir / FILES[self.check_split(split)], self.taxonomy_path()]

    def missing_hint(self) -> str:
        return f"the dataset is shared on request: {OFFICIAL.manual}"

    def taxonomy_path(self) -> Path:
        """``df_action.csv`` when the user saved one, else the official ``df_action.xlsx``."""
        as_csv = self.annotation_dir / TAXONOMY_CSV
        return as_csv if as_csv.is_file() else self.annotation_dir / TAXONOMY_XLSX

    def taxonomy_files(self) -> list[Path]:
        return [self.taxonomy_path()]

    def taxonomy(self) -> dict[str, str]:
        path = self.taxonomy_path()
        if not path.is_file():
            raise ActbenchError(f"{path}: file not found; expected the Animal Kingdom class list there "
                                f"({self.missing_hint()})")
        rows = _csv_rows(path) if path.suffix == ".csv" else _xlsx_rows(path)
        return parse_taxonomy(rows, path)

    def load_split(self, split: str) -> tuple[Segment, ...]:
        path = self.split_files(split)[0]
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return read_frame_list(handle, path)


def parse_taxonomy(rows: list[list[object]], origin: object) -> dict[str, str]:
    """``{class index: action name}`` from the sheet's rows (the first row is the header)."""
    if not rows:
        raise ActbenchError.bad_value(origin, "header", "the columns S/N, action_category, action, index, "
                                      "segment, count", "an empty sheet")
    header = [str(cell).strip() if cell is not None else "" for cell in rows[0]]
    for column in ("index", "action"):
        if column not in header:
            raise ActbenchError.bad_value(origin, "header", f"a column '{column}' (the columns S/N, "
                                          "action_category, action, index, segment, count)", header)
    at_index, at_action = header.index("index"), header.index("action")
    label_of: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        cells = list(row) + [None] * (len(header) - len(row))
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue  # a trailing blank row of the sheet
        where = f"{origin}:{number}"
        key = _class_index(cells[at_index], where)
        action = "" if cells[at_action] is None else " ".join(str(cells[at_action]).split())
        if not action:
            raise ActbenchError.bad_value(where, "action", "the action's name", "an empty cell")
        if key in label_of:
            raise ActbenchError.bad_value(where, "index", "each class index once", f"{key} twice")
        label_of[key] = action.lower()
    if len(label_of) < 2:
        raise ActbenchError.bad_value(origin, "rows", "at least 2 classes (the release has 140)", len(label_of))
    return label_of


def _class_index(cell: object, where: str) -> str:
    """A class index as its decimal string: ``40``, ``40.0`` (a number cell) or ``"40"``."""
    text = str(cell).strip() if cell is not None else ""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer() or value < 0:
        raise ActbenchError.bad_value(where, "index", "a non-negative integer class index", text or "an empty cell")
    return str(int(value))


def _csv_rows(path: Path) -> list[list[object]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [row for row in csv.reader(handle)]


def _xlsx_rows(path: Path) -> list[list[object]]:
    import zipfile

    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException
    except ModuleNotFoundError:
        raise ActbenchError(f"{path}: reading an .xlsx needs openpyxl (pip install openpyxl), or save its "
                            f"sheet as {TAXONOMY_CSV} beside it") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise ActbenchError.bad_value(path, "content", "an Excel workbook (.xlsx)",
                                      f"{type(error).__name__}: {error}") from None
    try:
        sheet = book[TAXONOMY_SHEET] if TAXONOMY_SHEET in book.sheetnames else book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def read_frame_list(lines, origin: object) -> tuple[Segment, ...]:
    """Segments (one per clip, in order of first appearance) from the lines of a frame list."""
    rows = iter(lines)
    first = next(rows, "")
    header = first.split()
    if header not in (list(COLUMNS), list(COLUMNS[:5])):
        raise ActbenchError.bad_value(f"{origin}:1", "header", f"'{HEADER}' (space-separated)", first.strip()
                                      or "an empty file")
    width = len(header)
    clips: dict[str, list] = {}  # clip -> [numeric video_id, last frame, labels in order, first line]
    # The frames of a clip are consecutive lines with the same clip, video_id and labels: such a line only
    # moves the clip's last frame (3.5 million lines in the release's train.csv).
    same, entry = (None, None, None), None
    for number, line in enumerate(rows, start=2):
        fields = line.split()
        if len(fields) != width:
            if not fields:
                continue
            raise ActbenchError.bad_value(f"{origin}:{number}", "line", f"{width} space-separated fields "
                                          f"({' '.join(header)})", line.strip())
        frame = int(fields[2]) if fields[2].isdigit() else 0
        if frame < 1:
            raise ActbenchError.bad_value(f"{origin}:{number}", "frame_id", "a frame number counting from 1",
                                          fields[2])
        if (fields[0], fields[1], fields[4]) == same:
            entry[1] = max(entry[1], frame)
            continue
        clip, video_number, labels = same = (fields[0], fields[1], fields[4])
        if not video_number.isdigit():
            raise ActbenchError.bad_value(f"{origin}:{number}", "video_id", "the clip's integer index", video_number)
        parsed = _labels(labels, f"{origin}:{number}")
        entry = clips.get(clip)
        if entry is None:
            entry = clips[clip] = [video_number, frame, dict.fromkeys(parsed), number]
            continue
        if entry[0] != video_number:
            raise ActbenchError.bad_value(f"{origin}:{number}", "video_id", f"{entry[0]} for every frame of clip "
                                          f"{clip} (line {entry[3]})", video_number)
        entry[1] = max(entry[1], frame)
        for key in parsed:
            entry[2].setdefault(key, None)
    segments = []
    for clip, (_, last_frame, labels, number) in clips.items():
        if not labels:
            raise ActbenchError.bad_value(f"{origin}:{number}", "labels", f"at least one action class for clip "
                                          f"{clip}", "none in any of its frames")
        keys = tuple(labels)
        segments.append(Segment(narration_id=clip, video_id=clip, start=0.0,
                                end=round(last_frame / FRAME_RATE, 6), class_key=keys[0], labels=keys))
    return tuple(segments)


def _labels(field: str, where: str) -> tuple[str, ...]:
    """``"2,40"`` -> ``("2", "40")``; quotes (SlowFast writes ``""`` for none) are dropped."""
    text = field.replace('"', "")
    if not text:
        return ()
    parts = text.split(",")
    if not all(p.isdigit() for p in parts):
        raise ActbenchError.bad_value(where, "labels", "comma-separated class indices (e.g. 2,40)", field)
    return tuple(dict.fromkeys(str(int(p)) for p in parts))
