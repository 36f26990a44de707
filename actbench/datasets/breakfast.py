"""Breakfast (Kuehne, Arslan and Serre, CVPR 2014) coarse actions as a ``SegmentDataset`` for ``build-mqa``.

The format followed is the official ``segmentation_coarse.tar.gz`` of
serre-lab.clps.brown.edu/resource/breakfast-actions-dataset (as arctix's and aroma's Breakfast readers parse
it): ``segmentation_coarse/<activity>/<person>_<camera>_<person>_<activity>.txt`` (e.g.
``cereals/P03_cam01_P03_cereals.txt``), one file per camera view of a recording, each line
``<start>-<end> <label>`` with 1-based frame numbers of the 15 fps videos, both included (``31-150
take_bowl``; the lines end in two spaces but the last), ``SIL`` marking the silence before, between and
after the actions. The labels are the 48 of the official benchmark: ``SIL`` and 47 coarse actions.

Layout under the data directory (what ``actbench data fetch breakfast`` writes; the archive unpacked into
``annotations/``, or unpacked by hand into the dataset's folder)::

    breakfast/annotations/segmentation_coarse/<activity>/<P03_cam01_P03_cereals>.txt

Each non-SIL line is a segment: class the coarse action (``take_bowl``, shown as ``"take bowl"``), times
in seconds (frames ``s..e`` are ``(s - 1) / 15`` to ``e / 15``), video the file's name (the camera view,
as the MS-TCN ground truth names it), the person (``P03``) as the ``prior``'s group. Segment ids are
``<video>_<index>``, the non-SIL lines of a file numbered in file order. Splits are the official four
folds by person: ``sN-test`` holds the persons of fold N (s1: P03-P15, s2: P16-P28, s3: P29-P41, s4:
P42-P54), ``sN-train`` every other person.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()) / "breakfast"
>>> folder = root / "annotations" / "segmentation_coarse" / "cereals"; folder.mkdir(parents=True)
>>> _ = (folder / "P03_cam01_P03_cereals.txt").write_text("1-30 SIL  \\n31-150 take_bowl  \\n151-165 SIL\\n")
>>> s = Breakfast(root).split("s1-test")[0]
>>> s.narration_id, s.class_key, (s.start, s.end), s.participant_id
('P03_cam01_P03_cereals_0', 'take_bowl', (2.0, 10.0), 'P03')
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from actbench.datasets.official_files import OfficialDataset, OfficialFile
from actbench.datasets.segments import Segment, SegmentDataset
from actbench.errors import ActbenchError

NAME = "breakfast"
FPS = 15  # the frame rate of the released videos, which the frame numbers count
SILENCE = "SIL"
UNPACKED = "annotations"  # where fetch unpacks the archive, inside the dataset's folder
COARSE = "segmentation_coarse"  # the archive's own top folder
ACTIVITIES = ("cereals", "coffee", "friedegg", "juice", "milk", "pancake", "salat", "sandwich", "scrambledegg", "tea")
FOLDS = {1: range(3, 16), 2: range(16, 29), 3: range(29, 42), 4: range(42, 55)}  # test persons P03..P54
# The 47 coarse actions (the 48 labels but SIL) and their option texts.
COARSE_ACTIONS = {
    "add_saltnpepper": "add salt and pepper", "add_teabag": "add teabag", "butter_pan": "butter pan",
    "crack_egg": "crack egg", "cut_bun": "cut bun", "cut_fruit": "cut fruit", "cut_orange": "cut orange",
    "fry_egg": "fry egg", "fry_pancake": "fry pancake", "peel_fruit": "peel fruit", "pour_cereals": "pour cereals",
    "pour_coffee": "pour coffee", "pour_dough2pan": "pour dough into pan", "pour_egg2pan": "pour egg into pan",
    "pour_flour": "pour flour", "pour_juice": "pour juice", "pour_milk": "pour milk", "pour_oil": "pour oil",
    "pour_sugar": "pour sugar", "pour_water": "pour water", "put_bunTogether": "put bun together",
    "put_egg2plate": "put egg on plate", "put_fruit2bowl": "put fruit in bowl",
    "put_pancake2plate": "put pancake on plate", "put_toppingOnTop": "put topping on top",
    "smear_butter": "smear butter", "spoon_flour": "spoon flour", "spoon_powder": "spoon powder",
    "spoon_sugar": "spoon sugar", "squeeze_orange": "squeeze orange", "stir_cereals": "stir cereals",
    "stir_coffee": "stir coffee", "stir_dough": "stir dough", "stir_egg": "stir egg", "stir_fruit": "stir fruit",
    "stir_milk": "stir milk", "stir_tea": "stir tea", "stirfry_egg": "stir-fry egg", "take_bowl": "take bowl",
    "take_butter": "take butter", "take_cup": "take cup", "take_eggs": "take eggs", "take_glass": "take glass",
    "take_knife": "take knife", "take_plate": "take plate", "take_squeezer": "take squeezer",
    "take_topping": "take topping",
}
QUESTION = ("The video is taken from a camera in a kitchen where a person prepares breakfast. "
            "What action is the person doing in this video?")
LICENSE = ("CC BY 4.0 (serre-lab.clps.brown.edu/resource/breakfast-actions-dataset): credit Kuehne, Arslan and "
           "Serre, CVPR 2014")
# The official page's Google Drive link to segmentation_coarse.tar.gz, as a direct download.
URL = "https://drive.google.com/uc?export=download&id=1R3z_CkO1uIOhu4y2Nh0pCHjQQ2l-Ab9E"

OFFICIAL = OfficialDataset(
    name=NAME,
    license=LICENSE,
    # Not pinned: the host is not reachable from here to hash the archive; the format validation is the check.
    files=(OfficialFile(None, URL, UNPACKED, None, None, unpack=True),),
)

_FILE_NAME = re.compile(r"(P\d\d)_([A-Za-z]+\d*)_(P\d\d)_([a-z]+)\.txt")
_LINE = re.compile(r"(\d+)-(\d+)\s+(\S+)")


def fold_of(person: str) -> int:
    """The fold whose test set holds ``person`` (``P03`` -> 1)."""
    number = int(person[1:])
    return next((k for k, persons in FOLDS.items() if number in persons), 0)


def read_coarse(path: Path) -> list[tuple[int, int, str]]:
    """The (start frame, end frame, label) lines of one coarse segmentation file, validated."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        match = _LINE.fullmatch(line.strip())
        if match is None:
            raise ActbenchError.bad_value(where, "line", "'<start>-<end> <label>' (frame numbers)", line)
        start, end, label = int(match[1]), int(match[2]), match[3]
        if not 1 <= start <= end:
            raise ActbenchError.bad_value(where, "frames", "1 <= start <= end (1-based frame numbers)",
                                          f"{start}-{end}")
        if label != SILENCE and label not in COARSE_ACTIONS:
            raise ActbenchError.bad_value(where, "label", "a coarse action of Breakfast or SIL", label)
        out.append((start, end, label))
    if not out:
        raise ActbenchError.bad_value(path, "content", "at least one '<start>-<end> <label>' line", "an empty file")
    return out


class Breakfast(SegmentDataset):
    name = NAME
    splits = tuple(f"s{k}-{part}" for k in FOLDS for part in ("test", "train"))
    default_split = "s1-test"
    train_split = "s1-train"
    question = QUESTION
    license = LICENSE

    def missing_hint(self) -> str:
        return (f"run `actbench data fetch {self.name}`, or unpack segmentation_coarse.tar.gz into "
                f"{self.root / UNPACKED}; or pass --data-dir / set ACTBENCH_DATA_DIR")

    @property
    def coarse_dir(self) -> Path:
        """``annotations/segmentation_coarse`` as fetched, or ``segmentation_coarse`` unpacked by hand."""
        fetched, by_hand = self.root / UNPACKED / COARSE, self.root / COARSE
        return by_hand if not fetched.is_dir() and by_hand.is_dir() else fetched

    @functools.cached_property
    def _files(self) -> dict[int, list[tuple[Path, str]]]:
        """(file, person) of every coarse file, by the fold whose test set holds the person, in name order."""
        folds: dict[int, list[tuple[Path, str]]] = {k: [] for k in FOLDS}
        for activity in ACTIVITIES:
            for path in sorted((self.coarse_dir / activity).glob("*.txt")):
                if path.name.startswith("."):
                    continue  # hidden files (editor or archiver leftovers) are not annotations
                match = _FILE_NAME.fullmatch(path.name)
                if match is None or match[1] != match[3] or match[4] != activity:
                    raise ActbenchError.bad_value(path, "file name", f"<person>_<camera>_<person>_{activity}.txt "
                                                  f"(e.g. P03_cam01_P03_{activity}.txt)", path.name)
                fold = fold_of(match[1])
                if not fold:
                    raise ActbenchError.bad_value(path, "person", "a person of the official folds, P03..P54",
                                                  match[1])
                folds[fold].append((path, match[1]))
        for files in folds.values():
            files.sort(key=lambda item: item[0].name)
        return folds

    def _split_files(self, split: str) -> list[tuple[Path, str]]:
        self.check_split(split)
        fold, part = int(split[1]), split.split("-")[1]
        if part == "test":
            return self._files[fold]
        return sorted((item for k, files in self._files.items() if k != fold for item in files),
                      key=lambda item: item[0].name)

    def split_files(self, split: str) -> list[Path]:
        """The coarse files of the split's persons (the folder itself when none is there: reported missing)."""
        return [path for path, _ in self._split_files(split)] or [self.coarse_dir]

    def text_origin(self, split: str) -> str:
        return str(self.coarse_dir)

    def taxonomy(self) -> dict[str, str]:
        return dict(COARSE_ACTIONS)

    def label_text(self, key: str) -> str:
        return COARSE_ACTIONS.get(key, key.replace("_", " "))

    def load_split(self, split: str) -> tuple[Segment, ...]:
        return tuple(segment for path, person in self._split_files(split) for segment in self._read(path, person))

    @functools.cached_property
    def _parsed(self) -> dict[Path, tuple[Segment, ...]]:
        return {}  # a file is in four splits (one test, three train): it is read once

    def _read(self, path: Path, person: str) -> tuple[Segment, ...]:
        if path not in self._parsed:
            video = path.stem
            actions = [(s, e, label) for s, e, label in read_coarse(path) if label != SILENCE]
            self._parsed[path] = tuple(
                Segment(narration_id=f"{video}_{j}", video_id=video, start=(s - 1) / FPS, end=e / FPS,
                        class_key=label, participant_id=person) for j, (s, e, label) in enumerate(actions))
        return self._parsed[path]

    def train_split_for(self, split: str | None) -> str:
        """The training split of the fold ``split`` belongs to: what a fold-aware ``prior`` learns from."""
        return self.train_split if split is None else f"{self.check_split(split).split('-')[0]}-train"
