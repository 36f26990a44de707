"""The licence of each dataset's source annotations, as an exported benchmark must state it.

An exported benchmark is a derived work of the annotations it was built from (its options are their
narrations or class names), so it carries their licence, not actbench's. The terms below are those of
the files in ``../shared/data`` (see its README and each dataset's licence file); the repositories come
from :mod:`actbench.datasets.official_files`. The other registered datasets carry their terms as written
by their publishers (the ``license`` of their loader, hub licence ``other``: the hub has no identifier
for most of them). A dataset actbench does not know is exported with licence ``unknown`` and a card that
says so, rather than with a guess.

>>> licence_of("epic-kitchens-100").hf_id
'cc-by-nc-4.0'
>>> licence_of("my-dataset").hf_id
'unknown'
>>> licence_of("breakfast").hf_id, licence_of("breakfast").name[:9]
('other', 'CC BY 4.0')
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from actbench.datasets.official_files import DATASETS, official_dataset
from actbench.errors import ActbenchError


@dataclass(frozen=True)
class Licence:
    hf_id: str  # the Hugging Face hub's licence identifier (YAML ``license:``)
    name: str
    url: str | None
    terms: str  # what a user of the export must do, in one paragraph
    origin: str  # where the annotations come from
    credit: str  # the work to cite


_EK100_TERMS = (
    "The EPIC-KITCHENS-100 annotations are copyright by their authors and published under the Creative Commons "
    "Attribution-NonCommercial 4.0 International License (https://creativecommons.org/licenses/by-nc/4.0/): "
    "you must give appropriate credit, provide a link to the license, and indicate if changes were made, in any "
    "reasonable manner but not in any way that suggests the licensor endorses you or your use; you may not use "
    "the material for commercial purposes. The videos are not part of this export."
)

_KNOWN = {
    "epic-kitchens-100": Licence(
        hf_id="cc-by-nc-4.0", name="CC BY-NC 4.0", url="https://creativecommons.org/licenses/by-nc/4.0/",
        terms=_EK100_TERMS,
        origin="",  # filled from official_files by licence_of
        credit="Damen et al., Rescaling Egocentric Vision: Collection, Pipeline and Challenges for "
               "EPIC-KITCHENS-100, IJCV 2022",
    ),
    "ego4d-goalstep": Licence(
        hf_id="mit", name="MIT", url="https://opensource.org/license/mit",
        terms="The Ego4D Goal-Step annotations are released under the MIT License (copyright Meta Platforms, Inc. "
              "and affiliates): keep the copyright and permission notice with copies. The videos themselves "
              "need the Ego4D licence and are not part of this export.",
        origin="",
        credit="Song et al., Ego4D Goal-Step: Toward Hierarchical Understanding of Procedural Activities, "
               "NeurIPS 2023",
    ),
}


def _origin(dataset: str) -> str:
    try:
        official = DATASETS.get(dataset) or official_dataset(dataset)
    except ActbenchError:
        return "unknown"
    places = dict.fromkeys(f"https://github.com/{f.repo.name}" if f.repo is not None else f.path
                           for f in official.files)
    return ", ".join(places) or (official.manual or "unknown")


def _registered(dataset: str) -> Licence | None:
    """The terms a registered dataset's loader states, for datasets without an entry above."""
    from actbench.datasets.registry import DATASETS as REGISTERED

    if dataset not in REGISTERED:
        return None
    terms = REGISTERED.get(dataset).license
    return Licence(hf_id="other", name=terms, url=None,
                   terms=f"The {dataset} annotations: {terms}. The videos are not part of this export.",
                   origin="", credit=f"the authors of {dataset}")


def licence_of(dataset: str) -> Licence:
    """The licence of ``dataset``'s annotations; ``unknown`` (with a warning as terms) when not known."""
    known = _KNOWN.get(dataset) or _registered(dataset)
    if known is None:
        return Licence(hf_id="unknown", name="unknown", url=None,
                       terms=f"actbench does not know the licence of the '{dataset}' annotations: check the "
                             "licence of the source annotations before sharing this export.",
                       origin="unknown", credit="the authors of the source annotations")
    return replace(known, origin=_origin(dataset))
