"""Any dataset as plain CSV files: ``build-mqa --dataset csv:NAME`` reads ``<data dir>/NAME/<split>.csv``.

For a dataset actbench has no loader for (EPFL-Smart-Kitchen-30, an in-house set), convert its
annotations once into one CSV per split with the columns

    segment_id,video_id,start,end,label[,text][,group]

``segment_id`` unique over the dataset (prediction files of ``--source scores`` use it), ``start`` /
``end`` in seconds, ``label`` the class (shown as the option text in label mode, underscores as spaces),
``text`` an optional free-text description of the segment (``--options narration``), ``group`` what the
``prior`` pools its statistics over (participant, task; empty: one group). The splits are the CSV files
present (``train.csv`` is what ``prior`` learns from); the default split is ``test``, else ``val`` /
``validation``, else the first. Every field is checked: an error names the file, line and column.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "kitchen"; root.mkdir()
>>> _ = (root / "test.csv").write_text("segment_id,video_id,start,end,label\\ns1,v1,0.5,2,cut_onion\\n")
>>> ds = CsvSegments(root); s = ds.split("test")[0]
>>> ds.name, s.narration_id, s.start, s.end, ds.action_space.labels
('csv:kitchen', 's1', 0.5, 2.0, ('cut onion',))
"""

from __future__ import annotations

import csv
from pathlib import Path

from actbench.datasets.location import resolve_data_dir
from actbench.datasets.segments import Segment, SegmentDataset, parse_seconds
from actbench.errors import ActbenchError

PREFIX = "csv:"
REQUIRED = ("segment_id", "video_id", "start", "end", "label")
OPTIONAL = ("text", "group")
QUESTION = "What action is being performed in this video? Look at the hands, the objects and the motion."
DEFAULT_SPLITS = ("test", "val", "validation")



def read_segments(path: Path) -> tuple[Segment, ...]:
    """The segments of one split file, validated (columns, ids once, times, a label)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise ActbenchError.bad_value(path, missing[0], f"a CSV column of that name ({','.join(REQUIRED)} "
                                          f"required; {','.join(OPTIONAL)} optional)", columns)
        segments, seen = [], {}
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            sid, video, label = row["segment_id"] or "", row["video_id"] or "", (row["label"] or "").strip()
            if not sid:
                raise ActbenchError.bad_value(where, "segment_id", "a non-empty id", sid)
            if sid in seen:
                raise ActbenchError.bad_value(where, "segment_id", "each segment once", f"{sid} again (line {seen[sid]})")
            seen[sid] = line
            if not video:
                raise ActbenchError.bad_value(where, "video_id", "a non-empty video id", video)
            start, end = parse_seconds(where, "start", row["start"] or ""), parse_seconds(where, "end", row["end"] or "")
            if end <= start:
                raise ActbenchError.bad_value(where, "end", f"seconds > start ({row['start']})", row["end"])
            if not label:
                raise ActbenchError.bad_value(where, "label", "a class label", "an empty field")
            text = (row.get("text") or "").strip() or None
            segments.append(Segment(narration_id=sid, video_id=video, start=start, end=end, class_key=label,
                                    narration=text, participant_id=(row.get("group") or "").strip()))
    return tuple(segments)


class CsvSegments(SegmentDataset):
    question = QUESTION
    license = "as stated by the dataset's publishers (actbench does not know this dataset's terms)"

    def __init__(self, root: Path):
        super().__init__(root)
        self.name = PREFIX + self.root.name
        self.splits = tuple(sorted(p.stem for p in self.root.glob("*.csv")))
        self.default_split = next((s for s in DEFAULT_SPLITS if s in self.splits), self.splits[0] if self.splits else "")
        self.train_split = "train" if "train" in self.splits else None
        # Narration mode is the default only if every segment of the default split has a text.
        self.has_narrations = bool(self.splits) and all(s.narration for s in self.split(self.default_split))

    @classmethod
    def from_data_dir(cls, data_dir=None, name: str = "") -> "CsvSegments":
        root = resolve_data_dir(data_dir) / name
        if not name or "/" in name or name.startswith("."):
            raise ActbenchError.bad_value("--dataset", "dataset", "csv:NAME, NAME a folder of the data directory",
                                          PREFIX + name)
        if not root.is_dir() or not any(root.glob("*.csv")):
            raise ActbenchError(f"{root}: no <split>.csv files; expected the segments of dataset {PREFIX}{name} "
                                f"there ({','.join(REQUIRED)} columns; see actbench/datasets/csv_segments.py)")
        return cls(root)

    def missing_hint(self) -> str:
        return f"write {self.root}/<split>.csv with the columns {','.join(REQUIRED)}"

    def split_files(self, split: str) -> list[Path]:
        return [self.root / f"{self.check_split(split)}.csv"]

    def load_split(self, split: str) -> tuple[Segment, ...]:
        return read_segments(self.split_files(split)[0])

    def label_text(self, key: str) -> str:
        return key.replace("_", " ")
