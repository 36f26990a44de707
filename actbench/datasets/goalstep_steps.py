"""Ego4D Goal-Step steps as a :class:`~actbench.datasets.segments.SegmentDataset` for ``build-mqa``.

Each step of ``goalstep_<split>.json`` is a segment: its class is the taxonomy category (``"Make baked
goods: Knead the dough"``, shown as ``"knead the dough"`` in label mode), its narration the annotator's
description (``"Kneads the dough with the mixer."``), so both option modes work. The prior groups videos
by their goal category (the task), the Goal-Step analogue of EPIC's participant. Segment ids are
``<video_uid>_<step index>``, stable for a given file.

>>> import json, tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "ego4d-goalstep"; root.mkdir()
>>> step = {"start_time": 1.0, "end_time": 4.5, "step_category": "Cut: Cut onion",
...         "step_description": "Cuts the onion.", "segments": []}
>>> video = {"video_uid": "v1", "start_time": 0.0, "end_time": 9.0, "goal_category": "COOKING:X",
...          "goal_description": "cook", "segments": [step]}
>>> _ = (root / "goalstep_valid.json").write_text(json.dumps({"videos": [video]}))
>>> ds = GoalStepSteps(root); s = ds.split("valid")[0]
>>> s.narration_id, s.class_key, s.narration, ds.action_space.labels
('v1_0', 'Cut: Cut onion', 'Cuts the onion.', ('cut onion',))
"""

from __future__ import annotations

from pathlib import Path

from actbench.datasets.ego4d_goalstep import DATASET, category_name, load_goalstep
from actbench.datasets.segments import Segment, SegmentDataset
from actbench.prompts import EGOCENTRIC

FILES = {"valid": "goalstep_valid.json", "train": "goalstep_train.json"}


class GoalStepSteps(SegmentDataset):
    name = DATASET
    splits = ("valid", "train")
    default_split = "valid"
    train_split = "train"
    question = EGOCENTRIC
    has_narrations = True
    license = "MIT (LICENSE); the videos themselves need the Ego4D licence"

    def split_files(self, split: str) -> list[Path]:
        return [self.root / FILES[self.check_split(split)]]

    def load_split(self, split: str) -> tuple[Segment, ...]:
        data = load_goalstep(self.split_files(split)[0])
        return tuple(
            Segment(narration_id=f"{video.video_uid}_{j}", video_id=video.video_uid, start=step.start, end=step.end,
                    class_key=step.category, narration=step.description.strip(), participant_id=video.goal_category)
            for video in data.videos for j, step in enumerate(video.steps))

    def missing_hint(self) -> str:
        # Only the validation file is on GitHub; train comes with the Ego4D licence, through its CLI.
        return ("the train file comes with the Ego4D licence: `ego4d --datasets annotations --benchmark goalstep`; "
                "the validation file: `actbench data fetch ego4d-goalstep`")

    def label_text(self, key: str) -> str:
        return category_name(key)
