"""COIN (Tang et al., CVPR 2019) steps as a :class:`~actbench.datasets.segments.SegmentDataset` for ``build-mqa``.

The format followed is the official ``COIN.json`` of github.com/coin-dataset/annotations (branch master,
described in its README): ``{"database": {<YouTube id>: {"recipe_type": 131, "class":
"ReplaceCDDriveWithSSD", "subset": "training" | "testing", "start", "end", "duration", "video_url",
"annotation": [{"id": "212", "segment": [60.0, 69.0], "label": "take out the laptop CD drive"}, ...]}}}``.
It is read and validated by :func:`actbench.datasets.coin.read_coin_json` (the GAD classifier's COIN loader
reads the same file), so an error names the file and the field (``database.<id>.annotation[2].segment``).

Each annotated step is a segment: its class is the step id (the taxonomy's 778 steps, the id the README
calls "ID number of the procedure"), its option text the step's label as that loader names it (the
official label, with VideoLLM-online's two comma fixes, so both COIN paths call a step the same). The
taxonomy is the file's own (id, label) pairs over both subsets; one id with two labels is an error. COIN
has no free-text descriptions, so only ``--options label`` works. The ``prior`` groups videos by their
task (``class``), the COIN analogue of EPIC's participant. Subsets: ``training`` -> ``train``,
``testing`` -> ``test``. Segment ids are ``<YouTube id>_<step index>``, stable for a given file.

>>> import json, tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "coin"; root.mkdir()
>>> video = {"recipe_type": 131, "class": "ReplaceCDDriveWithSSD", "subset": "testing", "start": 56.6,
...          "end": 85.7, "duration": 131.0, "video_url": "https://www.youtube.com/embed/LtRSn-ntcLY",
...          "annotation": [{"id": "212", "segment": [60.0, 69.0], "label": "take out the laptop CD drive"}]}
>>> train = dict(video, subset="training", annotation=[{"id": "216", "segment": [1.0, 5.0], "label": "insert it"}])
>>> _ = (root / "COIN.json").write_text(json.dumps({"database": {"LtRSn-ntcLY": video, "other": train}}))
>>> ds = CoinSteps(root); s = ds.split("test")[0]
>>> s.narration_id, s.class_key, s.participant_id, ds.action_space.labels
('LtRSn-ntcLY_0', '212', 'ReplaceCDDriveWithSSD', ('take out the laptop CD drive', 'insert it'))
"""

from __future__ import annotations

import functools
from pathlib import Path

from actbench.datasets.coin import CoinVideo, read_coin_json
from actbench.datasets.official_files import OfficialDataset, OfficialFile, Repo
from actbench.datasets.segments import Segment, SegmentDataset
from actbench.errors import ActbenchError
from actbench.prompts import INSTRUCTIONAL

NAME = "coin"
FILE = "COIN.json"
SUBSET_OF_SPLIT = {"train": "training", "test": "testing"}
LICENSE = ("research use only (coin-dataset/annotations README): share and modify, no implied endorsement; "
           "the videos are on YouTube")

OFFICIAL = OfficialDataset(
    name=NAME,
    license=LICENSE,
    # Not pinned: the file is not reachable from here to hash; COIN.json's validation is the check.
    files=(OfficialFile(Repo("coin-dataset/annotations", "master"), FILE, FILE, None, None),),
)


class CoinSteps(SegmentDataset):
    name = NAME
    splits = ("test", "train")
    default_split = "test"
    train_split = "train"
    question = INSTRUCTIONAL
    license = LICENSE

    @property
    def path(self) -> Path:
        return self.root / FILE

    def split_files(self, split: str) -> list[Path]:
        self.check_split(split)
        return [self.path]  # both subsets are in the one file

    def taxonomy_files(self) -> list[Path]:
        return [self.path]

    @functools.cached_property
    def _file(self) -> tuple[tuple[CoinVideo, ...], dict[str, str]]:
        """Every video of COIN.json (validated), and the step id -> label taxonomy it defines."""
        videos = read_coin_json(self.path)
        labels: dict[str, str] = {}
        first_seen: dict[str, str] = {}
        for video in videos:
            for i, step in enumerate(video.steps):
                where = f"database.{video.video_id}.annotation[{i}]"
                known = labels.setdefault(step.step_id, step.name)
                first_seen.setdefault(step.step_id, where)
                if known != step.name:  # the id is the class: two texts for one class would be ambiguous
                    raise ActbenchError.bad_value(
                        self.path, f"{where}.label",
                        f"{known!r}, the label of step id {step.step_id} at {first_seen[step.step_id]}", step.name)
        return videos, labels

    def load_split(self, split: str) -> tuple[Segment, ...]:
        subset = SUBSET_OF_SPLIT[self.check_split(split)]
        videos, _ = self._file
        return tuple(
            Segment(narration_id=f"{video.video_id}_{i}", video_id=video.video_id, start=step.start, end=step.end,
                    class_key=step.step_id, narration=None, participant_id=video.task_class)
            for video in videos if video.subset == subset for i, step in enumerate(video.steps))

    def taxonomy(self) -> dict[str, str] | None:
        if not self.path.is_file():
            return None
        return dict(self._file[1])
