"""The official files of each dataset ``actbench data fetch`` knows: where they come from and what they are.

Every file is named by its repository (``owner/name`` at a branch) and its path inside it; the download
URL is ``GITHUB_RAW/<owner>/<repo>/<branch>/<path>`` (a mirror can stand in for ``GITHUB_RAW``). Size and
sha256 pin the exact bytes ``../shared/data`` holds, so a fetched tree is byte-identical to it and a file
that changed upstream is refused rather than silently used. ``dest`` is the path inside the dataset's
folder of the data directory (the layout :mod:`actbench.datasets.location` describes).

The other datasets' tables live in their own modules (``OFFICIAL`` beside the loader, found through
:mod:`actbench.datasets.registry`). Their files often come from other hosts (``repo=None``: ``path`` is the
whole URL; a mirror stands in for its scheme, ``<mirror>/<host>/<path>``), cannot always be pinned from
here (``size``/``sha256`` None: the dataset's own format validation, run after the fetch, is the check),
may be archives (``unpack``: extracted under ``dest``, a folder) or may sit behind a licence form
(``manual``: the steps, shown instead of a download).

>>> f = DATASETS["ego4d-goalstep"].files[0]
>>> f.url()
'https://raw.githubusercontent.com/facebookresearch/ego4d-goalstep/main/data/goalstep_valid.json'
>>> f.url("http://127.0.0.1:8000/")
'http://127.0.0.1:8000/facebookresearch/ego4d-goalstep/main/data/goalstep_valid.json'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from actbench.errors import ActbenchError

# The only host the table names; everything else is a path under it.
GITHUB_RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Repo:
    """A public GitHub repository at the branch the files are taken from (its default branch)."""

    name: str  # "owner/name"
    branch: str


@dataclass(frozen=True)
class OfficialFile:
    repo: Repo | None  # None: ``path`` is the file's whole https URL
    path: str  # inside the repository
    dest: str  # inside the dataset's folder of the data directory (a folder when ``unpack``)
    size: int | None  # bytes; None where the bytes cannot be pinned from here
    sha256: str | None
    unpack: bool = False  # a .zip / .tar.gz / .tgz whose members are extracted under ``dest``

    def url(self, base: str = GITHUB_RAW) -> str:
        if self.repo is None:
            if base == GITHUB_RAW:
                return self.path
            return f"{base.rstrip('/')}/{self.path.split('://', 1)[-1]}"  # the mirror keeps host and path
        return f"{base.rstrip('/')}/{self.repo.name}/{self.repo.branch}/{self.path}"

    @property
    def pinned(self) -> bool:
        return self.size is not None and self.sha256 is not None


@dataclass(frozen=True)
class OfficialDataset:
    name: str  # also the folder name under the data directory
    license: str  # one line, shown after a fetch
    files: tuple[OfficialFile, ...]
    manual: str | None = None  # how to get files that sit behind a licence or request form (one line)


EK100_ANNOTATIONS = Repo("epic-kitchens/epic-kitchens-100-annotations", "master")
EK100_DETECTION = Repo("epic-kitchens/C2-Action-Detection", "master")
EGO4D_GOALSTEP = Repo("facebookresearch/ego4d-goalstep", "main")


def _annotation(path: str, size: int, sha256: str) -> OfficialFile:
    return OfficialFile(EK100_ANNOTATIONS, path, f"annotations/{path}", size, sha256)


def _detection(name: str, size: int, sha256: str) -> OfficialFile:
    return OfficialFile(EK100_DETECTION, f"BMNProposalGenerator/data/ek100/{name}",
                        f"C2-Action-Detection/{name}", size, sha256)


EPIC_KITCHENS_100 = OfficialDataset(
    name="epic-kitchens-100",
    license="CC BY-NC 4.0 (annotations/license.txt): credit, link the license, mark changes, non-commercial",
    files=(
        _annotation("license.txt", 481,
                    "acb7384c3f73cc96367ac132bc0bd57efa38c4495c17781032a2cf1444b65ebe"),
        _annotation("EPIC_100_verb_classes.csv", 13402,
                    "aab8bf210d0234b6facb9b191ae402c03a5f8965d123586b4762d3468a85033e"),
        _annotation("EPIC_100_noun_classes.csv", 49357,
                    "40f0a81c5bd06b33050df9f0bd17cd3c2fccd759f9581e4e5e04fec7562be893"),
        _annotation("EPIC_100_tail_verbs.csv", 263,
                    "6f124f23759b2bfaa742e071619d78a08b5d2f80147db9919c612c72c9774c94"),
        _annotation("EPIC_100_tail_nouns.csv", 878,
                    "62e3449a7a95fdcb43bc2eaa52a191844f4a566ff1178d2c867b0c0822387266"),
        _annotation("EPIC_100_unseen_participant_ids_validation.csv", 23,
                    "1274797112b20dd821cd10f62537545e669c4b7d742e36590e9f0f7ffb0c6a54"),
        _annotation("EPIC_100_unseen_participant_ids_test.csv", 27,
                    "85068fba968e33c73706bca0c7b212777bc2280ad6556550baab6d91042b382b"),
        _annotation("EPIC_100_video_info.csv", 27721,
                    "75fd040f6662cb407b4ca2eed4811ca94df280a1aba00b6bf8a5cd286deff382"),
        _annotation("EPIC_100_validation.csv", 1184998,
                    "35f7932ba0a1127a96cac215a98d35398946f343e3cea9ad6688ed17eee9d75d"),
        _annotation("EPIC_100_test_timestamps.csv", 941501,
                    "51760182029740428560d42661d1ac238d8b8878f442412d7ee268732d9af612"),
        _annotation("UDA_annotations/EPIC_100_uda_source_train.csv", 1943355,
                    "92c99736c8b0a5df9dd433f5969b17240aeee5282fe5112588ac4a637914d381"),
        _detection("training.csv", 2626192,
                   "cb45c0c966fed50aa6764a6feff5d9a3e945521b73db4b1ac5697e9ca6acb7c0"),
        _detection("validation.csv", 360742,
                   "009e871c8e720add3863e03bb68b56e306482160720e4ae92d4fc3dcb4354d05"),
        _detection("video_lengths.csv", 8982,
                   "7d4a2d7f987747bcbe08f618bbd7c2c0e1456957b5944a2fae55ac1377006123"),
    ),
)

EGO4D_GOALSTEP_VALID = OfficialDataset(
    name="ego4d-goalstep",
    license="MIT (LICENSE); the videos themselves need the Ego4D licence",
    files=(
        OfficialFile(EGO4D_GOALSTEP, "data/goalstep_valid.json", "goalstep_valid.json", 3339757,
                     "69d50c7afba2a35066ba339d8a30cce42ab20af0f7843523ce58f64747676ecc"),
        OfficialFile(EGO4D_GOALSTEP, "LICENSE", "LICENSE", 1088,
                     "da6d3703ed11cbe42bd212c725957c98da23cbff1998c05fa4b3d976d1a58e93"),
    ),
)

DATASETS: dict[str, OfficialDataset] = {d.name: d for d in (EPIC_KITCHENS_100, EGO4D_GOALSTEP_VALID)}


def known_datasets() -> list[str]:
    """Every dataset ``data fetch`` knows: the tables above, then the registry's other datasets."""
    from actbench.datasets.registry import DATASETS as REGISTERED

    return [*DATASETS, *(n for n in REGISTERED.names() if n not in DATASETS)]


def official_dataset(name: str) -> OfficialDataset:
    """The table of ``name``; an unknown name is a user error that lists the known ones."""
    if name in DATASETS:
        return DATASETS[name]
    known = known_datasets()
    if name not in known:
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ActbenchError(f"unknown dataset '{name}'{hint} (known: {', '.join(known)})")
    import sys

    from actbench.datasets.registry import DATASETS as REGISTERED

    module = sys.modules[REGISTERED.get(name).__module__]
    return module.OFFICIAL
