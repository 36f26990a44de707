"""Ego4D Goal-Step annotations (``goalstep_valid.json``) as typed, validated records.

The file (github.com/facebookresearch/ego4d-goalstep, ``data/goalstep_valid.json``) holds one entry per
video: the goal (``start_time`` / ``end_time`` in seconds from the video's start, a category and a
description) and its ``segments``, the steps; each step has its own ``segments``, the substeps. Steps
and substeps carry ``step_category`` (the Goal-Step taxonomy, ``"Make baked goods: Knead the dough in
a dough mixer"``) and ``step_description`` (free text written by the annotator, ``"Kneads the dough
with the mixer."``).

Everything is checked once, here: an error names the file, the field path (``videos[3].segments[5]
.end_time``), what was expected and what was found.

>>> import json, tempfile, pathlib
>>> video = {"video_uid": "v1", "start_time": 0.0, "end_time": 9.0, "goal_category": "COOKING:X",
...          "goal_description": "cook", "segments": [{"start_time": 1.0, "end_time": 4.5,
...          "step_category": "Cut: Cut onion", "step_description": " Cuts the onion. ", "segments": []}]}
>>> path = pathlib.Path(tempfile.mkdtemp()) / "goalstep_valid.json"
>>> _ = path.write_text(json.dumps({"videos": [video]}))
>>> step = load_goalstep(path).videos[0].steps[0]
>>> step.start, step.end, category_name(step.category), description_name(step.description)
(1.0, 4.5, 'cut onion', 'cuts the onion')
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from actbench.datasets.location import resolve_data_dir
from actbench.errors import ActbenchError

DATASET = "ego4d-goalstep"
FILES = {"valid": "goalstep_valid.json"}


@dataclass(frozen=True, slots=True)
class GoalStepSegment:
    """A step (or, in ``substeps``, a substep): seconds from the start of the video."""

    start: float
    end: float
    category: str  # taxonomy "Group: Name"
    description: str  # the annotator's free text, as written
    is_relevant: str | None  # "essential" | "optional" | "irrelevant" | "unsure" (missing once in valid)
    is_procedural: bool | None
    is_continued: bool | None
    substeps: tuple["GoalStepSegment", ...] = ()


@dataclass(frozen=True, slots=True)
class GoalStepVideo:
    video_uid: str
    start: float  # the goal's extent in the video (the video itself starts at 0)
    end: float
    goal_category: str
    goal_description: str
    is_procedural: bool | None
    steps: tuple[GoalStepSegment, ...]

    @property
    def last_end(self) -> float:
        """The end of the annotated timeline: the goal's end, or a later step or substep end (it happens)."""
        ends = [self.end, *(s.end for s in self.steps), *(u.end for s in self.steps for u in s.substeps)]
        return max(ends)


@dataclass(frozen=True, slots=True)
class GoalStep:
    path: Path
    split: str
    videos: tuple[GoalStepVideo, ...]

    @classmethod
    def from_data_dir(cls, data_dir=None, split: str = "valid") -> "GoalStep":
        if split not in FILES:
            raise ActbenchError.bad_value("--split", "split", f"one of {', '.join(FILES)}", split)
        return load_goalstep(resolve_data_dir(data_dir) / DATASET / FILES[split])

    def video(self, video_uid: str) -> GoalStepVideo:
        for video in self.videos:
            if video.video_uid == video_uid:
                return video
        raise ActbenchError.bad_value(self.path, "videos", "a video of that uid", video_uid)


def category_name(step_category: str) -> str:
    """The class name of a taxonomy category, as the GAD reference writes it: the part after the group,
    stripped and lower-cased (``"Make baked goods: Knead the dough"`` -> ``"knead the dough"``)."""
    _, _, name = step_category.partition(": ")
    return " ".join((name or step_category).split()).lower()


def description_name(text: str) -> str:
    """A free-text description as a class name: whitespace collapsed, lower-cased, trailing periods
    dropped (Gen's outputs are cleaned with ``.strip('.')``, so a name ending in '.' could never match)."""
    return " ".join(text.split()).lower().rstrip(".").rstrip()


def load_goalstep(path: str | Path) -> GoalStep:
    """Read and validate one Goal-Step annotation file."""
    path = Path(path)
    if not path.is_file():
        raise ActbenchError(f"{path}: file not found; expected the Ego4D Goal-Step annotations there "
                            "(run `actbench data fetch ego4d-goalstep` or pass --data-dir / set ACTBENCH_DATA_DIR)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ActbenchError.bad_value(f"{path}:{error.lineno}", "json", "valid JSON", error.msg) from None
    except UnicodeDecodeError as error:
        raise ActbenchError.bad_value(path, "encoding", "UTF-8 text", f"a bad byte at offset {error.start}") from None
    check = _Checker(path)
    if not isinstance(data, dict):
        raise check.fail("(top level)", "an object with a 'videos' list", type(data).__name__)
    videos = check.list_of(data, "videos", "", non_empty=True)
    out, seen = [], set()
    for i, video in enumerate(videos):
        where = f"videos[{i}]"
        check.is_object(video, where)
        uid = check.text(video, "video_uid", where)
        if uid in seen:
            raise check.fail(f"{where}.video_uid", "each video once", f"{uid} again")
        seen.add(uid)
        start, end = check.span(video, where)
        steps = tuple(_segment(check, step, f"{where}.segments[{j}]", nested=True)
                      for j, step in enumerate(check.list_of(video, "segments", where)))
        out.append(GoalStepVideo(uid, start, end, check.text(video, "goal_category", where, allow_empty=True),
                                 check.text(video, "goal_description", where, allow_empty=True),
                                 check.flag(video, "is_procedural", where), steps))
    return GoalStep(path=path, split=str(data.get("split", "")), videos=tuple(out))


def _segment(check: "_Checker", raw: object, where: str, nested: bool) -> GoalStepSegment:
    check.is_object(raw, where)
    start, end = check.span(raw, where, strict=True)
    substeps: tuple[GoalStepSegment, ...] = ()
    if nested:
        substeps = tuple(_segment(check, sub, f"{where}.segments[{k}]", nested=False)
                         for k, sub in enumerate(check.list_of(raw, "segments", where, required=False)))
    relevant = raw.get("is_relevant")
    if relevant is not None and not isinstance(relevant, str):
        raise check.fail(f"{where}.is_relevant", "a string or null", relevant)
    return GoalStepSegment(start, end, check.text(raw, "step_category", where),
                           check.text(raw, "step_description", where), relevant,
                           check.flag(raw, "is_procedural", where), check.flag(raw, "is_continued", where), substeps)


class _Checker:
    """Field checks that raise with the file and the field path."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, field: str, expected: str, found: object) -> ActbenchError:
        return ActbenchError.bad_value(self.path, field, expected, found)

    def is_object(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise self.fail(where, "an object", type(value).__name__)

    def list_of(self, obj: dict, key: str, where: str, *, non_empty: bool = False, required: bool = True) -> list:
        field = f"{where}.{key}" if where else key
        if key not in obj:
            if not required:
                return []
            raise self.fail(field, "a list (the field is required)", "none")
        value = obj[key]
        if not isinstance(value, list) or (non_empty and not value):
            raise self.fail(field, "a non-empty list" if non_empty else "a list", value)
        return value

    def text(self, obj: dict, key: str, where: str, *, allow_empty: bool = False) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise self.fail(f"{where}.{key}", "a string" if allow_empty else "a non-empty string",
                            "none" if key not in obj else value)
        return value

    def number(self, obj: dict, key: str, where: str) -> float:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise self.fail(f"{where}.{key}", "a finite number of seconds >= 0", "none" if key not in obj else value)
        return float(value)

    def span(self, obj: dict, where: str, *, strict: bool = False) -> tuple[float, float]:
        start, end = self.number(obj, "start_time", where), self.number(obj, "end_time", where)
        if end < start or (strict and end == start):
            raise self.fail(f"{where}.end_time", f"a time after start_time ({start})", end)
        return start, end

    def flag(self, obj: dict, key: str, where: str) -> bool | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "true, false or null", value)
        return value
