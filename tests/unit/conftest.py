"""Benchmarks shared by the export tests (VLMEvalKit / Hugging Face in test_export, lmms-eval beside it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actbench.mqa_builder.benchmark_dir import write_benchmark


@pytest.fixture
def crafted(tmp_path) -> Path:
    """The hand-made questions of test_export.CRAFTED as a benchmark directory."""
    from tests.unit.test_export import CRAFTED, _manifest

    out = tmp_path / "crafted"
    write_benchmark(out, _manifest(), CRAFTED)
    return out


@pytest.fixture(scope="module")
def real(data_dir, tmp_path_factory) -> Path:
    """300 questions built from the real EPIC-KITCHENS-100 validation annotations."""
    from actbench.mqa_builder.build import BuildSpec, build_mqa

    out = tmp_path_factory.mktemp("real") / "ek100-random-300"
    build_mqa(BuildSpec(source="random", out=out, limit=300, data_dir=data_dir), log=lambda message: None)
    return out
