"""``load_pickle``: numpy / pandas data loads; anything that could run code is refused before it runs."""

from __future__ import annotations

import collections
import os
import pickle
import subprocess
import warnings
import zipfile

import numpy as np
import pytest

from actbench.errors import ActbenchError
from actbench.mqa_builder.safe_pickle import load_pickle

PROTOCOLS = (2, 3, 4, 5)


def _write(tmp_path, obj, protocol=pickle.HIGHEST_PROTOCOL, name="data.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _refused(path, *fragments):
    with pytest.raises(ActbenchError) as caught:
        load_pickle(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- what must load ----------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_numpy_arrays_scalars_and_containers_round_trip(tmp_path, protocol):
    data = {
        "action": np.arange(12, dtype=np.float32).reshape(3, 4),
        "half": np.ones((2, 2), dtype=np.float16),
        "targets": np.array([3, 1, 2], dtype=np.int64),
        "v_narration_ids": np.array(["v_P01_11_0", "v_P01_11_1"], dtype=object),
        "unicode": np.array(["a", "bb"]),
        "mask": np.array([True, False]),
        "scalar": np.float32(1.5), "count": np.int64(7),
        "containers": [(1, 2), {3}, frozenset({4}), slice(1, 5, 2), complex(1, 2), bytearray(b"xy"),
                       b"raw", range(3), None, True, 2.5, "text"],
        "ordered": collections.OrderedDict(a=1, b=2),
    }
    loaded = load_pickle(_write(tmp_path, data, protocol))
    assert loaded.keys() == data.keys()
    for key in ("action", "half", "targets", "v_narration_ids", "unicode", "mask"):
        np.testing.assert_array_equal(loaded[key], data[key])
        assert loaded[key].dtype == data[key].dtype
    assert loaded["scalar"] == np.float32(1.5) and type(loaded["scalar"]) is np.float32
    assert loaded["containers"] == data["containers"]
    assert loaded["ordered"] == data["ordered"] and type(loaded["ordered"]) is collections.OrderedDict


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pandas_frames_and_series_of_numbers_and_strings(tmp_path, protocol):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"verb_class": [0, 1], "narration": ["take plate", "put down plate"],
                          "score": [0.5, 0.25]},
                         index=pd.Index(["P01_11_0", "P01_11_1"], name="narration_id"))
    series = pd.Series([1.0, 2.0], index=["a", "b"], name="s")
    loaded = load_pickle(_write(tmp_path, {"frame": frame, "series": series, "plain": pd.DataFrame({"x": [1]})},
                                protocol))
    pd.testing.assert_frame_equal(loaded["frame"], frame)
    pd.testing.assert_series_equal(loaded["series"], series)


def test_pickles_of_older_numpy_load_without_warnings(tmp_path):
    # numpy < 2 names numpy.core.multiarray; numpy >= 2 ships it only as a deprecated alias.
    data = pickle.dumps({"x": np.arange(3.0), "s": np.float64(2.0)}, protocol=2)
    old = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert old != data
    path = tmp_path / "old.pkl"
    path.write_bytes(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_pickle(path)
    np.testing.assert_array_equal(loaded["x"], np.arange(3.0))
    assert loaded["s"] == 2.0


# -- what must not run -------------------------------------------------------------------------------
class _Shell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


class _Popen:
    def __init__(self, argv):
        self.argv = argv

    def __reduce__(self):
        return (subprocess.Popen, (self.argv,))


def test_os_system_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, {"logits": np.zeros(2), "x": _Shell(f"touch {marker}")})
    message = _refused(path, "forbidden global", "system")
    assert not marker.exists()
    assert message.startswith(f"{path}: field 'pickle global'")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_eval_payload_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned-eval"
    code = f"open({str(marker)!r}, 'w').write('x')"
    path = _write(tmp_path, [1, {"nested": _Eval(code)}], protocol)
    _refused(path, "forbidden global builtins.eval")
    assert not marker.exists()


def test_payload_inside_a_numpy_object_array_is_refused(tmp_path):
    marker = tmp_path / "pwned-array"
    array = np.array([_Shell(f"touch {marker}"), "v_P01_11_0"], dtype=object)
    path = _write(tmp_path, {"v_narration_ids": array})
    _refused(path, "forbidden global")
    assert not marker.exists()


def test_subprocess_and_getattr_are_refused(tmp_path):
    marker = tmp_path / "pwned-popen"
    _refused(_write(tmp_path, _Popen(["touch", str(marker)]), name="p.pkl"), "subprocess.Popen")
    assert not marker.exists()
    # builtins.getattr would reach any attribute of an allowed object: not allowed either.
    gadget = b"\x80\x04cbuiltins\ngetattr\n\x8c\x01a\x8c\x05upper\x86R."
    path = tmp_path / "g.pkl"
    path.write_bytes(gadget)
    _refused(path, "forbidden global builtins.getattr")


def test_forbidden_pandas_function_is_refused(tmp_path):
    path = tmp_path / "rp.pkl"
    path.write_bytes(b"\x80\x04cpandas\nread_pickle\n\x8c\x05x.pkl\x85R.")
    _refused(path, "forbidden global pandas.read_pickle")


# -- files that are not (whole) pickles --------------------------------------------------------------
def test_truncated_pickle(tmp_path):
    data = pickle.dumps({"logits": np.zeros((50, 40), np.float32)}, protocol=4)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "truncated")


@pytest.mark.parametrize("content, fragment", [
    (b"", "empty file"),
    (b'{"logits": [1, 2]}', "binary pickle"),
    (b"narration_id,verb\nP01_11_0,0\n", "binary pickle"),
    (b"\x80\x04\x95garbage that is not a pickle", "pickle"),
])
def test_foreign_and_empty_files(tmp_path, content, fragment):
    path = tmp_path / "foreign.pkl"
    path.write_bytes(content)
    _refused(path, fragment)


def test_zip_archives_torch_save_style_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:  # the layout torch.save writes: archive/data.pkl
        archive.writestr("archive/data.pkl", pickle.dumps({"x": 1}))
    _refused(path, "zip archive")


def test_legacy_torch_persistent_ids_are_refused(tmp_path):
    class TensorPickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", "0") if obj == "tensor" else None

    path = tmp_path / "legacy.pt"
    with path.open("wb") as handle:
        TensorPickler(handle, protocol=2).dump({"w": "tensor"})
    _refused(path, "torch.save")


def test_missing_file(tmp_path):
    with pytest.raises(ActbenchError, match="cannot be read"):
        load_pickle(tmp_path / "absent.pkl")
