"""String-keyed registries of components (sources, models, metrics, ...).

Entries are registered as ``"package.module:attribute"`` strings and imported only when asked for, so
listing them or running ``actbench --help`` imports nothing heavy (no torch). A name can be registered
once; a typo gets the nearest names as a suggestion. Third parties add entries through the entry-point
group given to the registry (``[project.entry-points."actbench.models"]`` in their pyproject).

>>> r = Registry("colour")
>>> r.register("json-dumps", "json:dumps", summary="serialise")
>>> r.get("json-dumps")([1])
'[1]'
>>> r.get("json-dump")
Traceback (most recent call last):
...
actbench.errors.ActbenchError: unknown colour 'json-dump'; did you mean 'json-dumps'? (known: json-dumps)
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from actbench.errors import ActbenchError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str | Callable[..., Any]
    summary: str = ""


class Registry:
    """A named set of lazily imported components of one kind."""

    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self._entry_point_group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._entry_points_loaded = entry_point_group is None
        self._resolved: dict[str, Any] = {}

    def register(self, name: str, target: str | Callable[..., Any], *, summary: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"{self.kind} {name!r}: target must be 'module:attribute', got {target!r}")
        self._entries[name] = Entry(name, target, summary)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self._entry_point_group):
            if ep.name in self._entries:
                raise ActbenchError(
                    f"entry point {ep.value!r} registers {self.kind} {ep.name!r}, which is already registered"
                )
            self._entries[ep.name] = Entry(ep.name, ep.value, f"from {ep.dist.name if ep.dist else 'plugin'}")

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        self._load_entry_points()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def get(self, name: str) -> Any:
        """The registered object (imported on first use); an unknown name is a user error."""
        self._load_entry_points()
        if name in self._resolved:
            return self._resolved[name]
        entry = self._entries.get(name)
        if entry is None:
            raise ActbenchError(self.unknown_message(name))
        target = entry.target
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attribute)
            except ImportError as error:
                if (error.name or "").split(".")[0] == "actbench":
                    raise  # our own module is broken: a bug, not a missing extra
                # Most often an optional extra that is not installed (torch for a local model, ...).
                raise ActbenchError(f"{self.kind} {name!r} needs the Python package '{error.name}', which is not "
                                    "installed (see the extras in README: pip install 'actbench[hf]', "
                                    "'actbench[api]', ...)") from None
        self._resolved[name] = target
        return target

    def unknown_message(self, name: str) -> str:
        known = self.names()
        return f"unknown {self.kind} {name!r}{suggestion(name, known)} (known: {', '.join(known)})"


def suggestion(name: str, known: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest known names, or ``""``."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
