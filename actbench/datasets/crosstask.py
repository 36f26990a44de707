"""CrossTask (Zhukov et al., CVPR 2019) steps of the 18 primary tasks as a ``SegmentDataset`` for ``build-mqa``.

The format followed is the official release ``crosstask_release.zip`` (linked from github.com/DmZhukov/CrossTask,
read as that repository's ``data.py`` / ``train.py`` read it), unpacked under ``release/``::

    release/crosstask_release/tasks_primary.txt   blocks of 5 lines, then a blank line: task id, task name,
                                                  wikiHow URL, number of steps, the steps comma-separated
    release/crosstask_release/videos.csv          task id,YouTube id,URL (no header; primary and related tasks)
    release/crosstask_release/videos_val.csv      the same columns: the paper's validation videos
    release/crosstask_release/annotations/<task>_<YouTube id>.csv   step,start,end per row (no header):
                                                  1-based step number of the task, seconds

(a copy unpacked without the archive's top folder, ``release/tasks_primary.txt`` ..., is read too).
Splits as the official ``train.py`` makes them: ``val`` = the rows of ``videos_val.csv``, ``train`` = the
rows of ``videos.csv`` that are not in it; only primary tasks have step annotations, so rows of related
tasks are left out, and so is a listed video without an annotation file (the official evaluation skips
those too). Each annotated row is a segment: class ``<task id>:<step number>``, option text the step of
``tasks_primary.txt``, the task as the ``prior``'s group; no free-text descriptions, so only ``--options
label`` works. Segment ids are ``<task id>_<YouTube id>_<row index>``. An error names the file, its line
and the field.

>>> import tempfile, pathlib
>>> rel = pathlib.Path(tempfile.mkdtemp()) / "crosstask" / "release" / "crosstask_release"
>>> (rel / "annotations").mkdir(parents=True)
>>> _ = (rel / "tasks_primary.txt").write_text(
...     "23521\\nMake Jello Shots\\nhttp://www.wikihow.com/Make-Jello-Shots\\n2\\npour water,stir mixture\\n\\n")
>>> _ = (rel / "videos.csv").write_text("23521,abcdefghijk,https://www.youtube.com/watch?v=abcdefghijk\\n"
...                                     "23521,bcdefghijkl,https://www.youtube.com/watch?v=bcdefghijkl\\n")
>>> _ = (rel / "videos_val.csv").write_text("23521,abcdefghijk,https://www.youtube.com/watch?v=abcdefghijk\\n")
>>> _ = (rel / "annotations" / "23521_abcdefghijk.csv").write_text("2,4.5,9.25\\n")
>>> _ = (rel / "annotations" / "23521_bcdefghijkl.csv").write_text("1,0.0,3.0\\n")
>>> ds = CrossTask(rel.parents[1]); s = ds.split("val")[0]
>>> s.narration_id, s.class_key, (s.start, s.end), ds.action_space.labels
('23521_abcdefghijk_0', '23521:2', (4.5, 9.25), ('pour water', 'stir mixture'))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from actbench.datasets.official_files import OfficialDataset, OfficialFile
from actbench.datasets.segments import Segment, SegmentDataset, parse_seconds
from actbench.errors import ActbenchError
from actbench.prompts import INSTRUCTIONAL

NAME = "crosstask"
URL = "https://www.di.ens.fr/~dzhukov/crosstask/crosstask_release.zip"
RELEASE = "release"  # where the archive is unpacked, inside the dataset's folder
ARCHIVE_FOLDER = "crosstask_release"  # the archive's own top folder
TASKS, VIDEOS, VIDEOS_VAL, ANNOTATIONS = "tasks_primary.txt", "videos.csv", "videos_val.csv", "annotations"
LICENSE = ("see the release's readme.txt (github.com/DmZhukov/CrossTask; its code is BSD-3-Clause); "
           "the videos are on YouTube")

OFFICIAL = OfficialDataset(
    name=NAME,
    license=LICENSE,
    # Not pinned: the host is not reachable from here to hash the archive; the format validation is the check.
    files=(OfficialFile(None, URL, RELEASE, None, None, unpack=True),),
)


@dataclass(frozen=True)
class Task:
    task_id: str
    title: str
    url: str
    steps: tuple[str, ...]  # step k (1-based in the annotations) is steps[k - 1]


def read_tasks(path: Path) -> dict[str, Task]:
    """The task blocks of ``tasks_primary.txt``, in file order, validated."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[list[tuple[int, str]]] = []  # (line number, text) of consecutive non-blank lines
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if number == 1 or not lines[number - 2].strip():
                blocks.append([])
            blocks[-1].append((number, line.strip()))
    tasks: dict[str, Task] = {}
    for block in blocks:
        first = block[0][0]
        if len(block) != 5:
            raise ActbenchError.bad_value(f"{path}:{first}", "task", "5 lines (task id, name, URL, number of steps, "
                                          "steps), then a blank line", f"{len(block)} lines")
        (_, task_id), (_, title), (_, url), (n_line, n_text), (s_line, s_text) = block
        if task_id in tasks:
            raise ActbenchError.bad_value(f"{path}:{first}", "task id", "each task once", f"{task_id} again")
        if not (n_text.isdigit() and int(n_text) > 0):
            raise ActbenchError.bad_value(f"{path}:{n_line}", "number of steps", "a positive integer", n_text)
        steps = tuple(step.strip() for step in s_text.split(","))
        if len(steps) != int(n_text):
            raise ActbenchError.bad_value(f"{path}:{s_line}", "steps", f"{n_text} comma-separated steps "
                                          f"(line {n_line})", f"{len(steps)}")
        if not all(steps):
            raise ActbenchError.bad_value(f"{path}:{s_line}", "steps", "non-empty step names", s_text)
        tasks[task_id] = Task(task_id, title, url, steps)
    if not tasks:
        raise ActbenchError.bad_value(path, "tasks", "at least one task block", "none")
    return tasks


def read_videos(path: Path) -> list[tuple[str, str]]:
    """The (task id, YouTube id) rows of ``videos.csv`` / ``videos_val.csv``, in file order, validated."""
    rows: dict[tuple[str, str], None] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise ActbenchError.bad_value(f"{path}:{number}", "row", "task id,YouTube id,URL", line)
        rows.setdefault((fields[0], fields[1]), None)  # a repeated row is the same video: read it once
    return list(rows)



def read_annotation(path: Path, task: Task) -> list[tuple[int, float, float]]:
    """The (step number, start, end) rows of ``annotations/<task>_<video>.csv``, validated."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3:
            raise ActbenchError.bad_value(where, "row", "step,start,end", line)
        n = len(task.steps)
        if not (fields[0].isdigit() and 1 <= int(fields[0]) <= n):
            raise ActbenchError.bad_value(where, "step", f"a step number of task {task.task_id} in 1..{n}", fields[0])
        start, end = parse_seconds(where, "start", fields[1]), parse_seconds(where, "end", fields[2])
        if end < start:
            raise ActbenchError.bad_value(where, "end", f"seconds >= start ({fields[1]})", fields[2])
        out.append((int(fields[0]), start, end))
    return out


class CrossTask(SegmentDataset):
    name = NAME
    splits = ("val", "train")
    default_split = "val"
    train_split = "train"
    question = INSTRUCTIONAL
    license = LICENSE

    @property
    def release(self) -> Path:
        """The release folder: ``release/crosstask_release`` as unpacked, or ``release`` holding its files."""
        nested = self.root / RELEASE / ARCHIVE_FOLDER
        flat = self.root / RELEASE
        return flat if not (nested / TASKS).is_file() and (flat / TASKS).is_file() else nested

    def missing_hint(self) -> str:
        return (f"run `actbench data fetch {self.name}`, or unzip crosstask_release.zip into {self.root / RELEASE}; "
                f"or pass --data-dir / set ACTBENCH_DATA_DIR")

    def _index_files(self) -> list[Path]:
        return [self.release / TASKS, self.release / VIDEOS, self.release / VIDEOS_VAL]

    @functools.cached_property
    def _tasks(self) -> dict[str, Task]:
        return read_tasks(self.release / TASKS)

    @functools.cached_property
    def _videos(self) -> dict[str, list[tuple[str, str]]]:
        """(task, video) of each split, primary tasks only, in file order."""
        val = read_videos(self.release / VIDEOS_VAL)
        held_out = set(val)
        train = [row for row in read_videos(self.release / VIDEOS) if row not in held_out]
        return {split: [row for row in rows if row[0] in self._tasks] for split, rows in
                (("val", val), ("train", train))}

    def _annotation(self, task: str, video: str) -> Path:
        return self.release / ANNOTATIONS / f"{task}_{video}.csv"

    def split_files(self, split: str) -> list[Path]:
        """The three index files, then the annotation file of every video of the split that has one."""
        self.check_split(split)
        index = self._index_files()
        if not all(p.is_file() for p in index):
            return index
        found = (self._annotation(task, video) for task, video in self._videos[split])
        return index + [p for p in found if p.is_file()]

    def load_split(self, split: str) -> tuple[Segment, ...]:
        folder = self.release / ANNOTATIONS
        if not folder.is_dir():
            raise ActbenchError(f"{folder}: folder not found; expected the CrossTask step annotations "
                                f"<task>_<video>.csv there ({self.missing_hint()})")
        segments = []
        for task, video in self._videos[self.check_split(split)]:
            path = self._annotation(task, video)
            if not path.is_file():
                continue
            for j, (step, start, end) in enumerate(read_annotation(path, self._tasks[task])):
                segments.append(Segment(narration_id=f"{task}_{video}_{j}", video_id=video, start=start, end=end,
                                        class_key=f"{task}:{step}", narration=None, participant_id=task))
        return tuple(segments)

    def taxonomy(self) -> dict[str, str] | None:
        if not (self.release / TASKS).is_file():
            return None
        return {f"{t.task_id}:{k}": step for t in self._tasks.values() for k, step in enumerate(t.steps, start=1)}

    def taxonomy_files(self) -> list[Path]:
        return [self.release / TASKS]
