"""Where the annotation data lives: ``--data-dir``, else ``ACTBENCH_DATA_DIR``, else a per-user cache.

The layout under that directory is the one ``actbench data fetch`` writes (and ``../shared/data`` has):
``epic-kitchens-100/annotations/...``, ``epic-kitchens-100/C2-Action-Detection/...``,
``ego4d-goalstep/...``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ACTBENCH_DATA_DIR"


def user_cache_dir(kind: str, env_var: str | None = None) -> Path:
    """``$ENV_VAR`` if set, else ``$XDG_CACHE_HOME/actbench/KIND``, else ``~/.cache/actbench/KIND``."""
    if env_var and os.environ.get(env_var):
        return Path(os.environ[env_var])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actbench" / kind


def default_cache_dir() -> Path:
    return user_cache_dir("data")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory chosen by the precedence rule (it may not exist yet)."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return default_cache_dir()
