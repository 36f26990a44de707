"""``actbench data check DATASET``: read every split of a dataset that is present, with full validation.

What ``data fetch`` runs after a download (the only check for files whose bytes cannot be pinned), and
what a user runs on files placed by hand (datasets behind a request form). An error names the file, the
field, what was expected and what was found.

>>> check_dataset("ego4d-goalstep")                 # doctest: +SKIP
DatasetCheck(name='ego4d-goalstep', segments={'valid': 3349}, classes=...)
"""

from __future__ import annotations

from dataclasses import dataclass

from actbench.datasets.registry import open_dataset
from actbench.errors import ActbenchError


@dataclass(frozen=True)
class DatasetCheck:
    name: str
    segments: dict[str, int]  # split -> labelled segments
    classes: int  # the size of the label space
    missing: list[str]  # splits whose files are absent


def check_dataset(name: str, data_dir=None) -> DatasetCheck:
    dataset = open_dataset(name, data_dir)
    present = [s for s in dataset.splits if dataset.has_split(s)]
    if not present:
        raise ActbenchError(f"{dataset.root}: no split of {name} found ({', '.join(dataset.splits)}); "
                            f"expected its annotation files there ({_hint(dataset)})")
    segments = {split: len(dataset.split(split)) for split in present}
    return DatasetCheck(name, segments, len(dataset.action_space), [s for s in dataset.splits if s not in present])


def _hint(dataset) -> str:
    hint = getattr(dataset, "missing_hint", None)
    return hint() if hint else f"run `actbench data fetch {dataset.name}`"
