"""Shared fixtures: the real EPIC-KITCHENS-100 annotations, read through ACTBENCH_DATA_DIR.

``make test`` and CI point ACTBENCH_DATA_DIR at ../shared/data; when it is unset and that folder sits
beside the checkout, it is used too. Tests that need the real files are skipped only when neither is
there (a machine without the licensed data).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SHARED = REPO.parent / "shared" / "data"


def real_data_dir() -> Path | None:
    env = os.environ.get("ACTBENCH_DATA_DIR")
    if env and (Path(env) / "epic-kitchens-100").is_dir():
        return Path(env)
    if _SHARED.joinpath("epic-kitchens-100").is_dir():
        return _SHARED
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = real_data_dir()
    if found is None:
        pytest.skip("real EPIC-KITCHENS-100 annotations not available (set ACTBENCH_DATA_DIR)")
    return found


@pytest.fixture(scope="session")
def ek100(data_dir):
    from actbench.datasets.epic_kitchens import EpicKitchens100

    return EpicKitchens100.from_data_dir(data_dir)


@pytest.fixture(scope="session")
def mini(tmp_path_factory) -> Path:
    """The made-up mini dataset in the EPIC-KITCHENS-100 layout (tests/helpers/mini_ek100.py); read-only."""
    from tests.helpers.mini_ek100 import make_mini_ek100

    return make_mini_ek100(tmp_path_factory.mktemp("mini"))
