"""Records refuse inconsistent states; registries import lazily, refuse duplicates, suggest names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actbench.errors import ActbenchError
from actbench.records import Answer
from actbench.registry import Registry


def test_answer_letter_only_with_ok_status():
    Answer("x", "A", "ok", "A", 0.1)
    Answer("x", None, "parse_fail", "hmm", 0.1)
    with pytest.raises(ValueError, match="does not fit status"):
        Answer("x", "A", "error", "boom", 0.1)
    with pytest.raises(ValueError, match="does not fit status"):
        Answer("x", None, "ok", "", 0.1)
    with pytest.raises(ValueError, match="status must be one of"):
        Answer("x", None, "timeout", "", 0.1)


def test_registry_is_lazy_refuses_duplicates_and_suggests():
    registry = Registry("widget")
    registry.register("decimal-context", "decimal:getcontext")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("decimal-context", "decimal:getcontext")
    with pytest.raises(ValueError, match="module:attribute"):
        registry.register("bad", "decimal.getcontext")
    with pytest.raises(ActbenchError, match="unknown widget 'decimal-contxt'; did you mean 'decimal-context'"):
        registry.get("decimal-contxt")
    with pytest.raises(ActbenchError, match=r"unknown widget 'zzz' \(known: decimal-context\)"):
        registry.get("zzz")
    import decimal

    assert registry.get("decimal-context") is decimal.getcontext


def test_listing_and_help_import_no_heavy_module():
    code = ("import sys; from actbench.cli import app; from actbench.model_adapters import MODELS; "
            "from actbench.mqa_builder.sources import SOURCES; MODELS.names(); SOURCES.names(); "
            "heavy = [m for m in ('torch', 'transformers', 'pandas', 'pyarrow', 'actbench.runner', "
            "'actbench.mqa_builder.build') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_registered_component_imports():
    """A registry entry pointing at a renamed function would only fail when a user names it."""
    from actbench.evaluators.registry import METRICS
    from actbench.model_adapters import MODELS
    from actbench.mqa_builder.sources import SOURCES

    for registry in (METRICS, MODELS, SOURCES):
        for name in registry.names():
            assert callable(registry.get(name)), (registry.kind, name)
