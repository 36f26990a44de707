"""Reading a specialist's pickle without letting it run code.

``pickle.load`` calls whatever global a file names, so a prediction file from someone else could run
any command. :func:`load_pickle` resolves globals through an allow-list instead: exactly what numpy
arrays and scalars, builtin containers and pandas DataFrames / Series of numbers and strings need.
Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) is refused before it is
called, with an :class:`~actbench.errors.ActbenchError` naming the file and the global.

The specialists write plain pickles (TIM ``recognition/scripts/extract_feats.py`` and AVION
``scripts/main_lavila_finetune_cls.py`` both call ``pickle.dump``). A ``torch.save`` file (a zip archive
with ``data.pkl``, or a legacy torch pickle with persistent ids) is refused with a message saying so.

>>> import pickle, tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "preds.pkl"
>>> _ = path.write_bytes(pickle.dumps({"logits": np.eye(2, dtype=np.float32)}))
>>> load_pickle(path)["logits"].shape
(2, 2)
"""

from __future__ import annotations

import _compat_pickle
import importlib
import pickle
from pathlib import Path

from actbench.errors import ActbenchError

# (module, name) pairs a pickle may name, after Python 2 names of protocol-2 pickles are mapped as
# pickle itself maps them (__builtin__ -> builtins, copy_reg -> copyreg). Both numpy.core (numpy < 2)
# and numpy._core (numpy >= 2) are listed.
_NUMPY = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5
}
_BUILTINS = {("builtins", name) for name in ("list", "dict", "tuple", "set", "frozenset", "slice", "complex",
                                             "bytes", "bytearray", "range", "object", "int", "float",
                                             "bool", "str")} | {
    ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),  # calls cls.__new__ of a cls that itself passed this list
    ("_codecs", "encode"),  # protocol 2 writes bytes as _codecs.encode(text, "latin1")
}
# What a DataFrame / Series of numbers and strings pickles to (pandas 1.x to 3.x; pandas 3 stores
# strings as pyarrow arrays).
_PANDAS = {
    ("pandas", "DataFrame"), ("pandas", "Series"), ("pandas", "Index"), ("pandas", "RangeIndex"),
    ("pandas", "StringDtype"),
    ("pandas.core.frame", "DataFrame"), ("pandas.core.series", "Series"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.arrays", "ArrowStringArray"), ("pandas.arrays", "StringArray"),
    ("pandas.core.arrays.string_", "StringDtype"), ("pandas.core.arrays.string_", "StringArray"),
    ("pandas.core.arrays.string_arrow", "ArrowStringArray"),
    ("pyarrow.lib", "_restore_array"), ("pyarrow.lib", "py_buffer"), ("pyarrow.lib", "type_for_alias"),
}
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(_NUMPY | _BUILTINS | _PANDAS)


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Python 2 names of protocol-2 pickles as pickle maps them (__builtin__.xrange -> builtins.range)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _resolve(module: str, name: str) -> object:
    candidates = [module]
    if module.startswith("numpy.core."):
        # numpy 2 moved numpy.core to numpy._core; going there directly avoids its deprecation shim.
        candidates.insert(0, "numpy._core." + module[len("numpy.core."):])
    for candidate in candidates:
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise LookupError(f"{module}.{name}")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, origin: object):
        super().__init__(file)
        self._origin = origin

    def find_class(self, module: str, name: str) -> object:
        module, name = _python3_name(module, name)
        if (module, name) not in ALLOWED_GLOBALS:
            raise ActbenchError.bad_value(self._origin, "pickle global",
                                          "only numpy / pandas data and builtin containers",
                                          f"forbidden global {module}.{name}")
        try:
            return _resolve(module, name)
        except LookupError:
            raise ActbenchError.bad_value(self._origin, "pickle global",
                                          "a global this numpy / pandas version provides",
                                          f"{module}.{name}, which cannot be imported") from None

    def persistent_load(self, pid: object) -> object:
        raise ActbenchError.bad_value(self._origin, "content", "a pickle written with pickle.dump",
                                      "a torch.save file (persistent ids); re-save it with pickle.dump")


_ZIP_MAGIC = b"PK\x03\x04"


def load_pickle(path: str | Path) -> object:
    """The object in the pickle at ``path``, built only from allowed globals."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ActbenchError(f"{path}: cannot be read ({error.strerror or error})") from None
    with handle:
        head = handle.read(4)
        if not head:
            raise ActbenchError.bad_value(path, "content", "a pickle", "an empty file")
        if head.startswith(_ZIP_MAGIC):
            raise ActbenchError.bad_value(path, "content", "a pickle written with pickle.dump",
                                          "a zip archive (a torch.save file or .npz?)")
        if head[:1] != b"\x80":
            # Every pickle of protocol 2 or later starts with the PROTO opcode; text pickles of
            # protocol 0/1 are not what numpy-era tools write, and JSON / CSV land here too.
            raise ActbenchError.bad_value(path, "content", "a binary pickle (protocol 2 or later)",
                                          f"a file starting with {head!r}")
        handle.seek(0)
        try:
            return _RestrictedUnpickler(handle, path).load()
        except ActbenchError:
            raise
        except (EOFError, pickle.UnpicklingError) as error:
            raise ActbenchError.bad_value(path, "content", "a complete pickle",
                                          f"a truncated or corrupt pickle ({error or 'ran out of input'})") from None
        except Exception as error:  # noqa: BLE001 - any failure inside a foreign file is a user error
            raise ActbenchError.bad_value(path, "content", "a readable pickle",
                                          f"{type(error).__name__}: {error}") from None
