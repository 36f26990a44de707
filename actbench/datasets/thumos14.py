"""THUMOS'14 temporal action annotations (20 sport classes) as a ``SegmentDataset`` for ``build-mqa``.

The format followed is the official release of crcv.ucf.edu/THUMOS14, as described by the readme of
``TH14_Temporal_annotations_validation.zip`` and read by the TAL toolkits (G-TAD, ActionFormer, OpenTAD):

- ``TH14_Temporal_annotations_validation.zip``: ``annotation/<ClassName>_val.txt``, one file per class;
- ``TH14_Temporal_annotations_test.zip``: ``annotations/annotation/<ClassName>_test.txt``;
- each line one instance, ``video_name starting_time ending_time`` in seconds with one decimal
  (``video_validation_0000051  67.5 75.9``: the files put two spaces after the name);
- ``Ambiguous_val.txt`` / ``Ambiguous_test.txt``: moments hard to call action or not, taken out of the
  official evaluation; they are no questions here and are not read;
- ``Class Index_Detection.txt``: the 20 detection classes, ``<UCF101 index> <ClassName>`` per line
  (``7 BaseballPitch``): the taxonomy.

Layout under the data directory (what ``actbench data fetch thumos14`` writes; the archives are unpacked
whole, and any folder below ``validation/`` or ``test/`` holding the class files is found, so an archive
extracted with or without its folders works)::

    thumos14/Class Index_Detection.txt
    thumos14/validation/TH14_Temporal_annotations_validation/annotation/<ClassName>_val.txt
    thumos14/test/TH14_Temporal_Annotations_Test/annotations/annotation/<ClassName>_test.txt

Splits: ``val`` (what TAL methods train on: the ``prior`` learns from it) and ``test`` (the default).
Each annotated instance is a segment of class ``<ClassName>``, shown as ``"clean and jerk"``; THUMOS has
no participants, so the ``prior`` has no group. THUMOS annotates every CliffDiving instance a second time
as Diving with the same times: one interval carrying several classes is one segment, its ``labels`` all
of them, the more specific class (CliffDiving) first and the answer. Segment ids are
``<video>_<index>``, the instances of a video numbered by start, end, then class.

Two test videos whose annotations are known to be wrong are left out: ``video_test_0000270`` (most of its
29 instances end after the video does; G-TAD and ActionFormer drop it) and ``video_test_0001496`` (its 27
instances were found wrongly annotated; OpenTAD's THUMOS loader lists both as wrong videos).
``video_test_0001292`` has only Ambiguous instances, hence no question.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "thumos14"
>>> folder = root / "test" / "annotation"; folder.mkdir(parents=True)
>>> _ = (root / CLASS_INDEX).write_text("21 CleanAndJerk\\n26 Diving\\n")
>>> _ = (folder / "CleanAndJerk_test.txt").write_text("video_test_0000004  12.3 15.0\\n")
>>> _ = (folder / "Diving_test.txt").write_text("")
>>> ds = Thumos14(root); s = ds.split("test")[0]
>>> s.narration_id, s.class_key, (s.start, s.end), ds.action_space.labels
('video_test_0000004_0', 'CleanAndJerk', (12.3, 15.0), ('clean and jerk', 'diving'))
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from pathlib import Path

from actbench.datasets.official_files import OfficialDataset, OfficialFile
from actbench.datasets.segments import Segment, SegmentDataset, parse_seconds
from actbench.errors import ActbenchError

NAME = "thumos14"
HOST = "https://www.crcv.ucf.edu/THUMOS14"
CLASS_INDEX = "Class Index_Detection.txt"
FOLDER = {"val": "validation", "test": "test"}  # where each archive is unpacked, inside the dataset's folder
SUFFIX = {"val": "val", "test": "test"}  # <ClassName>_<suffix>.txt
VIDEO_PREFIX = {"val": "video_validation_", "test": "video_test_"}
# The archives' own folders, in the layout the docstring shows (used to name a missing file).
NESTED = {"val": Path("TH14_Temporal_annotations_validation", "annotation"),
          "test": Path("TH14_Temporal_Annotations_Test", "annotations", "annotation")}
# A CliffDiving instance is annotated as Diving too: the specific class is the answer, the other a label.
SPECIFIC_FIRST = {"CliffDiving": ("Diving",)}
FAULTY_TEST_VIDEOS = frozenset({"video_test_0000270", "video_test_0001496"})
QUESTION = ("The video is a sports broadcast or recording seen from a third-person view. "
            "What action is the person doing in this video?")
LICENSE = ("no licence file: THUMOS'14 challenge annotations (crcv.ucf.edu/THUMOS14), cite Jiang et al. 2014; "
           "the videos are YouTube videos of their uploaders")

OFFICIAL = OfficialDataset(
    name=NAME,
    license=LICENSE,
    # Not pinned: the host is not reachable from here to hash the files; the format validation is the check.
    files=(
        OfficialFile(None, f"{HOST}/Class%20Index_Detection.txt", CLASS_INDEX, None, None),
        OfficialFile(None, f"{HOST}/Validation_set/TH14_Temporal_annotations_validation.zip", FOLDER["val"],
                     None, None, unpack=True),
        OfficialFile(None, f"{HOST}/test_set/TH14_Temporal_annotations_test.zip", FOLDER["test"], None, None,
                     unpack=True),
    ),
)

_CLASS_NAME = re.compile(r"[A-Z][A-Za-z]*")


def class_label(name: str) -> str:
    """``CleanAndJerk`` -> ``clean and jerk``: a space before each capital, then lower case.

    >>> class_label("BaseballPitch"), class_label("Shotput"), class_label("VolleyballSpiking")
    ('baseball pitch', 'shotput', 'volleyball spiking')
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def read_class_index(path: Path) -> tuple[str, ...]:
    """The class names of ``Class Index_Detection.txt``, in file order, validated."""
    names: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) != 2:
            raise ActbenchError.bad_value(where, "line", "'<index> <ClassName>' (e.g. '7 BaseballPitch')", line)
        index, name = fields
        if not index.isdigit():
            raise ActbenchError.bad_value(where, "index", "a class index (an integer)", index)
        if not _CLASS_NAME.fullmatch(name):
            raise ActbenchError.bad_value(where, "class", "a CamelCase class name (e.g. BaseballPitch)", name)
        if name in names:
            raise ActbenchError.bad_value(where, "class", "each class once", f"{name} again (line {names[name]})")
        names[name] = number
    if not names:
        raise ActbenchError.bad_value(path, "classes", "at least one '<index> <ClassName>' line", "none")
    return tuple(names)



def read_instances(path: Path, split: str) -> list[tuple[str, float, float]]:
    """The (video, start, end) lines of ``<ClassName>_<split>.txt``, in file order, validated."""
    out = []
    prefix = VIDEO_PREFIX[split]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) != 3:
            raise ActbenchError.bad_value(where, "line", "'video_name starting_time ending_time'", line)
        video, start_text, end_text = fields
        if not (video.startswith(prefix) and video[len(prefix):].isdigit()):
            raise ActbenchError.bad_value(where, "video", f"a {split} video name ({prefix}NNNNNNN)", video)
        start, end = parse_seconds(where, "starting_time", start_text), parse_seconds(where, "ending_time", end_text)
        if end <= start:
            raise ActbenchError.bad_value(where, "ending_time", f"seconds > starting_time ({start_text})", end_text)
        out.append((video, start, end))
    return out


class Thumos14(SegmentDataset):
    name = NAME
    splits = ("test", "val")
    default_split = "test"
    train_split = "val"
    question = QUESTION
    license = LICENSE

    def missing_hint(self) -> str:
        return (f"run `actbench data fetch {self.name}`, or unzip the official archives under "
                f"{self.root / FOLDER['val']} and {self.root / FOLDER['test']}; or pass --data-dir / set "
                f"ACTBENCH_DATA_DIR")

    @functools.cached_property
    def _classes(self) -> tuple[str, ...]:
        return read_class_index(self.root / CLASS_INDEX)

    def annotation_dir(self, split: str) -> Path:
        """The folder holding ``<ClassName>_<split>.txt``: wherever below the split's folder they are."""
        base = self.root / FOLDER[self.check_split(split)]
        found = sorted({p.parent for p in base.glob(f"**/*_{SUFFIX[split]}.txt")})
        if len(found) > 1:
            raise ActbenchError.bad_value(base, "folders", f"one folder of <ClassName>_{SUFFIX[split]}.txt files",
                                          ", ".join(str(p.relative_to(base)) for p in found))
        return found[0] if found else base / NESTED[split]

    def taxonomy_files(self) -> list[Path]:
        return [self.root / CLASS_INDEX]

    def split_files(self, split: str) -> list[Path]:
        """The class index, then the split's file of every class (the Ambiguous file is not read)."""
        index = self.root / CLASS_INDEX
        if not index.is_file():
            return [index]
        folder = self.annotation_dir(split)
        return [index, *(folder / f"{name}_{SUFFIX[split]}.txt" for name in self._classes)]

    def text_origin(self, split: str) -> str:
        return str(self.annotation_dir(split))

    def taxonomy(self) -> dict[str, str]:
        return {name: class_label(name) for name in self._classes}

    def label_text(self, key: str) -> str:
        return class_label(key)

    def load_split(self, split: str) -> tuple[Segment, ...]:
        order = {name: i for i, name in enumerate(self._classes)}
        # One interval under several classes (CliffDiving and Diving) is one segment: as two questions, each
        # would offer the other's class, just as true, as a distractor.
        classes_at: dict[tuple[str, float, float], set[str]] = defaultdict(set)
        for name, path in zip(self._classes, self.split_files(split)[1:]):
            for video, start, end in read_instances(path, split):
                if split == "test" and video in FAULTY_TEST_VIDEOS:
                    continue
                classes_at[(video, start, end)].add(name)
        by_video: dict[str, list[tuple[float, float, tuple[str, ...]]]] = defaultdict(list)
        for (video, start, end), names in classes_at.items():
            by_video[video].append((start, end, _specific_first(names, order)))
        segments = []
        for video in sorted(by_video):
            instances = sorted(by_video[video], key=lambda x: (x[0], x[1], order[x[2][0]]))
            for j, (start, end, labels) in enumerate(instances):
                segments.append(Segment(narration_id=f"{video}_{j}", video_id=video, start=start, end=end,
                                        class_key=labels[0], labels=labels if len(labels) > 1 else ()))
        return tuple(segments)


def _specific_first(names: set[str], order: dict[str, int]) -> tuple[str, ...]:
    """The classes of one interval, the answer first: a class that implies others (CliffDiving implies
    Diving) before them, otherwise the class index order."""
    implied = {general for name in names for general in SPECIFIC_FIRST.get(name, ())}
    return tuple(sorted(names, key=lambda n: (n in implied, order[n])))
