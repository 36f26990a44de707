"""The action datasets ``build-mqa --dataset`` knows, by name (lazily imported).

>>> sorted(DATASETS.names())[:2]
['animal-kingdom', 'breakfast']
"""

from __future__ import annotations

from actbench.registry import Registry

DATASETS = Registry("dataset", entry_point_group="actbench.datasets")
DATASETS.register("epic-kitchens-100", "actbench.datasets.epic_kitchens:EpicKitchens100",
                  summary="EPIC-KITCHENS-100: 97 verbs x 300 nouns, 3,806 actions; narrations")
DATASETS.register("ego4d-goalstep", "actbench.datasets.goalstep_steps:GoalStepSteps",
                  summary="Ego4D Goal-Step: steps of the taxonomy, with the annotators' descriptions")
DATASETS.register("coin", "actbench.datasets.coin_steps:CoinSteps",
                  summary="COIN: 778 steps of 180 tasks (COIN.json)")
DATASETS.register("crosstask", "actbench.datasets.crosstask:CrossTask",
                  summary="CrossTask: steps of the 18 primary tasks")
DATASETS.register("thumos14", "actbench.datasets.thumos14:Thumos14",
                  summary="THUMOS'14: 20 sport actions, temporal annotations")
DATASETS.register("breakfast", "actbench.datasets.breakfast:Breakfast",
                  summary="Breakfast: 48 coarse actions of 10 breakfast activities")
DATASETS.register("meccano", "actbench.datasets.meccano_actions:Meccano",
                  summary="MECCANO: 61 actions of toy-motorbike assembly")
DATASETS.register("animal-kingdom", "actbench.datasets.animal_kingdom:AnimalKingdom",
                  summary="Animal Kingdom: 140 animal actions, multi-label (Jaccard accuracy)")


def open_dataset(name: str, data_dir=None):
    """The dataset ``name`` read from ``data_dir`` (else $ACTBENCH_DATA_DIR, else the cache); ``csv:NAME`` is
    any dataset written as plain CSV files (:mod:`actbench.datasets.csv_segments`)."""
    if name.startswith("csv:"):
        from actbench.datasets.csv_segments import CsvSegments

        return CsvSegments.from_data_dir(data_dir, name[len("csv:"):])
    return DATASETS.get(name).from_data_dir(data_dir)


def is_dataset_name(name: str) -> bool:
    """A registered dataset, or ``csv:NAME``."""
    return name in DATASETS or (name.startswith("csv:") and len(name) > len("csv:"))
