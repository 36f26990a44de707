"""MECCANO (Ragusa et al., WACV 2021) action segments as a :class:`~actbench.datasets.segments.SegmentDataset`.

The format followed is the action-recognition annotation of the official release (iplab.dmi.unict.it/MECCANO,
read by the official PySlowFast loader, github.com/fpv-iplab/MECCANO ``PySlowFast_files/datasets/meccano.py``):
one CSV per split, ``MECCANO_<split>_actions.csv``, one segment per line with five comma-separated fields

    video_id,action_id,action_name,frame_start,frame_end
    0008,2,take_screwdriver,00023.jpg,00071.jpg

``frame_*`` name the first and last frame of the segment in the video's frame folder (``frames/<video>/``,
RGB frames at 12 fps, named by zero-padded index). A header line with exactly those column names is
accepted too (the loader of PySlowFast asserts five fields and an integer action id per line, so the files
it reads have none). ``action_id`` indexes the 61 actions (``take_screwdriver`` is shown as "take
screwdriver"); one id with two names is an error. Segment ids are ``<video>_<index>`` in file order.

Times: frame ``n`` is shown at ``n / 12`` s, a segment spans ``[start / 12, (end + 1) / 12)``.

The ``prior`` learns action sequences from the training videos; all participants assemble the same
motorbike, and a test video's participant has no training video, so there is one group (no participant
prior). Videos are stored as frame folders; export or extract them as ``<video>.mp4`` for ``--video-layout
flat``.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "MECCANO_test_actions.csv").write_text("0008,2,take_screwdriver,00024.jpg,00047.jpg\\n")
>>> s = Meccano(root).split("test")[0]
>>> s.narration_id, s.class_key, s.start, s.end, Meccano(root).label_text("2")
('0008_0', '2', 2.0, 4.0, 'take screwdriver')
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from actbench.datasets.official_files import OfficialDataset
from actbench.datasets.segments import Segment, SegmentDataset
from actbench.errors import ActbenchError

NAME = "meccano"
FPS = 12.0
FILES = {split: f"MECCANO_{split}_actions.csv" for split in ("train", "val", "test")}
HEADER = ("video_id", "action_id", "action_name", "frame_start", "frame_end")
QUESTION = ("You are seeing this video from egocentric view and you are the person assembling a toy "
            "motorbike. Your hands are interacting with its components and tools. What action are you doing?")
LICENSE = ("MECCANO: for research purposes only (iplab.dmi.unict.it/MECCANO); cite Ragusa et al., "
           "WACV 2021")
_FRAME = re.compile(r"(\d+)\.jpg")
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

OFFICIAL = OfficialDataset(
    name=NAME,
    license=LICENSE,
    files=(),
    # The annotations come with the dataset from its web page, whose archive names are not pinned here.
    manual=("download the MECCANO action temporal annotations from https://iplab.dmi.unict.it/MECCANO/ "
            "(MECCANO_train_actions.csv, MECCANO_val_actions.csv, MECCANO_test_actions.csv)"),
)


def _frame(where: str, field: str, text: str) -> int:
    match = _FRAME.fullmatch(text)
    if match is None:
        raise ActbenchError.bad_value(where, field, "a frame file name (e.g. 00023.jpg)", text)
    return int(match.group(1))


def read_actions(path: Path) -> list[tuple[str, str, str, int, int]]:
    """The (video, action id, action name, first frame, last frame) lines of one split, validated."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = [f.strip() for f in line.split(",")]
        if number == 1 and tuple(fields) == HEADER:
            continue
        if len(fields) != 5:
            raise ActbenchError.bad_value(where, "line", "video_id,action_id,action_name,frame_start,frame_end",
                                          line)
        video, action_id, action_name, first_text, last_text = fields
        if not video or any(c in video for c in "/\\") or ".." in video:
            raise ActbenchError.bad_value(where, "video_id", "a video id (e.g. 0008)", video)
        if not action_id.isdigit():
            raise ActbenchError.bad_value(where, "action_id", "an integer class id", action_id)
        if not _NAME.fullmatch(action_name):
            raise ActbenchError.bad_value(where, "action_name", "a snake_case action (e.g. take_screwdriver)",
                                          action_name)
        first, last = _frame(where, "frame_start", first_text), _frame(where, "frame_end", last_text)
        if last < first:
            raise ActbenchError.bad_value(where, "frame_end", f"a frame at or after frame_start ({first_text})",
                                          last_text)
        out.append((video, str(int(action_id)), action_name, first, last))
    return out


class Meccano(SegmentDataset):
    name = NAME
    splits = ("test", "train", "val")
    default_split = "test"
    train_split = "train"
    question = QUESTION
    license = LICENSE

    def missing_hint(self) -> str:
        return f"{OFFICIAL.manual}, into {self.root}; or pass --data-dir / set ACTBENCH_DATA_DIR"

    def split_files(self, split: str) -> list[Path]:
        return [self.root / FILES[self.check_split(split)]]

    @functools.cache
    def _rows(self, split: str) -> tuple[tuple[str, str, str, int, int], ...]:
        return tuple(read_actions(self.split_files(split)[0]))

    def load_split(self, split: str) -> tuple[Segment, ...]:
        self.action_names  # every split's ids and names agree before any is used
        index: dict[str, int] = {}
        segments = []
        for video, action_id, _, first, last in self._rows(split):
            j = index[video] = index.get(video, -1) + 1
            segments.append(Segment(narration_id=f"{video}_{j}", video_id=video, start=round(first / FPS, 6),
                                    end=round((last + 1) / FPS, 6), class_key=action_id))
        return tuple(segments)

    @functools.cached_property
    def action_names(self) -> dict[str, str]:
        """action id -> name over the splits present; one id with two names is an error."""
        names: dict[str, tuple[str, str]] = {}
        for split in self.splits:
            path = self.split_files(split)[0]
            if not path.is_file():
                continue
            for _, action_id, action_name, _, _ in self._rows(split):
                known = names.setdefault(action_id, (action_name, path.name))
                if known[0] != action_name:
                    raise ActbenchError.bad_value(path, f"action_name of action_id {action_id}",
                                                  f"{known[0]!r} as in {known[1]}", action_name)
        return {key: name for key, (name, _) in names.items()}

    def label_text(self, key: str) -> str:
        name = self.action_names.get(key, key)
        return name.replace("_", " ")
