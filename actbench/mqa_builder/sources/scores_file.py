"""``scores``: any scorer's predictions as a plain ``.npz`` or ``.parquet`` score matrix.

``.npz`` (``numpy.savez`` / ``savez_compressed``), three arrays:

- ``narration_ids``: ``(N,)`` strings, each a clip of the split, none twice;
- ``scores``: ``(N, C)`` numbers, finite, higher = more likely;
- ``classes``: ``(C,)`` strings ``"verb:noun"`` (e.g. ``"0:2"``), the class of each score column.

``.parquet``: one row per clip with two columns, and the class list in the file's metadata:

- column ``narration_id``: string;
- column ``scores``: list of floats (``list``, ``large_list`` or ``fixed_size_list``), C values per row;
- schema metadata key ``classes``: a JSON array of the C ``"verb:noun"`` strings.

``classes`` may be any subset of the action space in any order: columns are moved to their class,
classes not listed score ``-inf`` (never used as distractors). A class outside the action space or
listed twice is an error. Writing either format::

    np.savez(path, narration_ids=ids, scores=scores, classes=classes)

    import json, pyarrow as pa, pyarrow.parquet as pq
    table = pa.table({"narration_id": ids,
                      "scores": pa.FixedSizeListArray.from_arrays(pa.array(scores.ravel()), len(classes))})
    pq.write_table(table.replace_schema_metadata({"classes": json.dumps(list(classes))}), path)
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from actbench.errors import ActbenchError
from actbench.mqa_builder.ranking import Ranking, SourceContext, check_narration_ids, check_scores

NAME = "scores"
NPZ_KEYS = ("narration_ids", "scores", "classes")
PARQUET_CLASSES_KEY = "classes"


def _strings(value: object, origin: object, field: str) -> list[str]:
    array = np.asarray(value)
    if array.ndim != 1 or array.dtype.kind not in "UO":
        raise ActbenchError.bad_value(origin, field, "a 1-D array of strings",
                                      f"dtype {array.dtype}, shape {array.shape}")
    items = array.tolist()
    bad = next((x for x in items if not isinstance(x, str)), None)
    if bad is not None:
        raise ActbenchError.bad_value(origin, field, "strings", bad)
    return items


def _read_npz(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ActbenchError.bad_value(path, "content", "an .npz archive of plain arrays (no pickles)",
                                      f"{type(error).__name__}: {error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ActbenchError.bad_value(path, "content", f"an .npz archive with arrays {', '.join(NPZ_KEYS)}",
                                      "a single .npy array")
    with archive:
        missing = [key for key in NPZ_KEYS if key not in archive.files]
        if missing:
            raise ActbenchError.bad_value(path, missing[0], "an array of the .npz archive",
                                          f"missing (arrays: {archive.files})")
        try:
            ids, scores, classes = (archive[key] for key in NPZ_KEYS)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise ActbenchError.bad_value(path, "content", "readable arrays (object arrays are refused)",
                                          f"{type(error).__name__}: {error}") from None
    return _strings(ids, path, "narration_ids"), scores, _strings(classes, path, "classes")


def _read_parquet(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise ActbenchError.bad_value(path, "content", "a Parquet file", f"{type(error).__name__}: {error}") from None
    for column in ("narration_id", "scores"):
        if column not in table.column_names:
            raise ActbenchError.bad_value(path, column, "a column of the Parquet file",
                                          f"missing (columns: {table.column_names})")
    metadata = table.schema.metadata or {}
    raw = metadata.get(PARQUET_CLASSES_KEY.encode())
    if raw is None:
        keys = sorted(k.decode(errors="replace") for k in metadata)
        raise ActbenchError.bad_value(path, "classes", "schema metadata key 'classes' (a JSON list)",
                                      f"missing (metadata keys: {keys})")
    try:
        classes = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ActbenchError.bad_value(path, "classes", "a JSON list of 'verb:noun' strings", raw[:60]) from None
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ActbenchError.bad_value(path, "classes", "a non-empty JSON list of 'verb:noun' strings", classes)

    id_column = table.column("narration_id")
    if not (pa.types.is_string(id_column.type) or pa.types.is_large_string(id_column.type)) \
            or id_column.null_count:
        raise ActbenchError.bad_value(path, "narration_id", "a string column without nulls", str(id_column.type))
    column = table.column("scores").combine_chunks()
    kind = column.type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    if not is_list or not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise ActbenchError.bad_value(path, "scores", "a list-of-numbers column", str(kind))
    expected = f"{len(classes)} numbers per row (one per class), no nulls"
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise ActbenchError.bad_value(path, "scores", expected, f"row {row}: null")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if (lengths != len(classes)).any():
        row = int(np.flatnonzero(lengths != len(classes))[0])
        raise ActbenchError.bad_value(path, "scores", expected, f"row {row}: {lengths[row]} numbers")
    values = pc.list_flatten(column)
    if values.null_count:
        position = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise ActbenchError.bad_value(path, "scores", expected,
                                      f"row {position // len(classes)}: a null score")
    scores = values.to_numpy(zero_copy_only=False).reshape(len(column), len(classes))
    return id_column.to_pylist(), scores, classes


def _read(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    with path.open("rb") as handle:
        head = handle.read(4)
    suffix = path.suffix.lower()
    if suffix == ".npz" or (suffix not in (".parquet", ".pq") and head == b"PK\x03\x04"):
        return _read_npz(path)
    if suffix in (".parquet", ".pq") or head == b"PAR1":
        return _read_parquet(path)
    raise ActbenchError.bad_value(path, "content", "an .npz archive or a .parquet file",
                                  f"a {suffix or 'suffix-less'} file starting with {head!r}")


def _columns(classes: list[str], origin: object, index: dict[str, int]) -> np.ndarray:
    seen: set[str] = set()
    for key in classes:
        if key in seen:
            raise ActbenchError.bad_value(origin, "classes", "each class once", f"{key} twice")
        if key not in index:
            raise ActbenchError.bad_value(origin, "classes", "'verb:noun' classes of the action space",
                                          f"unknown class {key!r}")
        seen.add(key)
    return np.array([index[key] for key in classes], dtype=np.int64)


def rank(ctx: SourceContext) -> Ranking:
    path = ctx.require_predictions(NAME)
    ids, scores, classes = _read(path)
    known = frozenset(c.narration_id for c in ctx.dataset.split(ctx.split))
    ids = check_narration_ids(ids, path, known, field="narration_ids")
    if not classes:
        raise ActbenchError.bad_value(path, "classes", "at least one class", "none")
    space = ctx.dataset.action_space
    columns = _columns(classes, path, space.index)
    scores = check_scores(scores, path, (len(ids), len(classes)), field="scores")
    if len(columns) == len(space) and np.array_equal(columns, np.arange(len(space))):
        return Ranking(ids, scores, origin=str(path))  # the full space in order: no copy
    full = np.full((len(ids), len(space)), -np.inf, dtype=np.float32)
    full[:, columns] = scores
    return Ranking(ids, full, origin=str(path))
