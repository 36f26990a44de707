"""Video frame sampling: times, the frames picked, resizing, every error, path safety and the cache.

The tests write tiny videos with PyAV (64x48, 25 fps, 4 s). Frame i is a flat colour that encodes i:
red = 10 * (i % 25), green = 10 * (i // 25), so the decoded pixels say which frame was picked; the
expected frame is computed independently (nearest frame time i / fps, ties to the earlier frame).
"""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest

av = pytest.importorskip("av")
Image = pytest.importorskip("PIL.Image")

from actbench.errors import ActbenchError  # noqa: E402
from actbench.model_adapters import video  # noqa: E402
from actbench.model_adapters.frame_cache import FrameCache, key_digest  # noqa: E402
from actbench.model_adapters.video import FrameSampler, nearest_indices, sample_times  # noqa: E402

FPS, N_SRC, W, H = 25, 100, 64, 48
CODECS = {
    "h264-lossless": ("libx264", {"crf": "0", "g": "10"}),
    "mpeg4-bframes": ("mpeg4", {"b": "4000k", "bf": "2", "g": "12"}),  # pts reordered vs dts
}


def colour(i: int) -> tuple[int, int, int]:
    return (10 * (i % 25), 10 * (i // 25), 128)


def index_of(pixels: np.ndarray) -> int:
    """The source frame index encoded in a (flat) decoded frame, robust to coding error of a few levels."""
    r, g, _ = pixels.reshape(-1, 3).mean(axis=0)
    return int(round(r / 10)) + 25 * int(round(g / 10))


def expected_index(t: float, fps: float = FPS, count: int = N_SRC) -> int:
    """Independent reference: frame i is shown at i / fps; nearest, ties to the earlier."""
    best = min(range(count), key=lambda i: (abs(i / fps - t), i))
    return best


def write_video(path, *, codec: str = "libx264", options=None, frames: int = N_SRC, fps: int = FPS):
    path.parent.mkdir(parents=True, exist_ok=True)
    options = options if options is not None else CODECS["h264-lossless"][1]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps, options=dict(options))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            image = np.empty((H, W, 3), np.uint8)
            image[...] = colour(i)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_jpegs(folder, count: int):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(1, count + 1):  # 1-based, frame k shows index k - 1
        Image.new("RGB", (W, H), colour(k - 1)).save(folder / f"frame_{k:010d}.jpg", quality=95)
    return folder


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """One video root per codec with P01_01.MP4 (uppercase) and P02_03.mp4 (lowercase)."""
    roots = {}
    for name, (codec, options) in CODECS.items():
        root = tmp_path_factory.mktemp(name)
        write_video(root / "P01" / "videos" / "P01_01.MP4", codec=codec, options=options)
        write_video(root / "P02" / "videos" / "P02_03.mp4", codec=codec, options=options)
        roots[name] = root
    return roots


@pytest.fixture
def root(videos):
    return videos["h264-lossless"]


def sampler(tmp_path, **kw):
    kw.setdefault("cache", FrameCache(tmp_path / "cache"))
    kw.setdefault("size", None)
    return FrameSampler(**kw)


# ---- times ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 8, 16, 32, 64])
@pytest.mark.parametrize("start,end", [(0.0, 4.0), (1.25, 3.5), (7.0, 7.0)])
def test_sample_times_are_bin_centres(n, start, end):
    times = sample_times(start, end, n)
    width = (end - start) / n
    naive = [start + width / 2 + i * width for i in range(n)]
    assert len(times) == n
    assert times == pytest.approx(naive, abs=1e-6)
    assert all(start <= t <= end for t in times)
    assert list(times) == sorted(times)


def test_sample_times_examples_and_bad_arguments():
    assert sample_times(0, 1, 1) == (0.5,)
    assert sample_times(2, 4, 4) == (2.25, 2.75, 3.25, 3.75)
    for n in (0, -1, 2.0, True):
        with pytest.raises(ValueError):
            sample_times(0, 1, n)
    for start, end in ((-1, 1), (2, 1), (0, math.inf), (math.nan, 1)):
        with pytest.raises(ValueError):
            sample_times(start, end, 4)


def test_nearest_indices_ties_go_to_the_earlier_frame():
    stamps = np.arange(5) / 25
    assert nearest_indices(stamps, (0.0, 0.02, 0.0201, 0.06, 5.0)) == [0, 0, 1, 1, 4]


# ---- video layout ---------------------------------------------------------------------------------

@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("n", [1, 8, 16, 32, 64])
def test_video_frames_are_the_nearest_to_each_time(videos, tmp_path, codec, n):
    result = sampler(tmp_path, n_frames=n, cache=None).frames(videos[codec], "P01_01", 0.3, 3.7)
    assert result.ok, result.error
    assert result.times == sample_times(0.3, 3.7, n)
    assert result.frames.shape == (n, H, W, 3) and result.frames.dtype == np.uint8
    assert [index_of(f) for f in result.frames] == [expected_index(t) for t in result.times]
    assert result.source == "P01/videos/P01_01.MP4" and not result.from_cache


@pytest.mark.parametrize("seek_gap", [0.0, 100.0])  # seek before every time / decode forward only
def test_seeking_and_decoding_forward_pick_the_same_frames(videos, tmp_path, monkeypatch, seek_gap):
    monkeypatch.setattr(video, "SEEK_GAP_S", seek_gap)
    for codec, root in videos.items():
        result = sampler(tmp_path, n_frames=6, cache=None).frames(root, "P01_01", 0.0, 4.0)
        assert [index_of(f) for f in result.frames] == [expected_index(t) for t in result.times], codec


def test_lowercase_extension_and_segment_edges(root, tmp_path):
    smp = sampler(tmp_path, n_frames=4, cache=None)
    result = smp.frames(root, "P02_03", 0.0, 4.0)  # the whole video: 0.5, 1.5, 2.5, 3.5 s
    assert result.ok and result.source == "P02/videos/P02_03.mp4"
    assert [index_of(f) for f in result.frames] == [12, 37, 62, 87]
    # An end one frame past the last frame's time is still inside (annotations round end times).
    assert smp.frames(root, "P01_01", 3.9, 4.0).ok


@pytest.mark.parametrize("size,shape", [(24, (24, 32)), (96, (96, 128)), ((16, 16), (12, 16)),
                                        ((200, 30), (30, 40)), (None, (H, W))])
def test_resize_keeps_the_aspect_ratio(root, tmp_path, size, shape):
    result = sampler(tmp_path, n_frames=3, size=size, cache=None).frames(root, "P01_01", 1.0, 2.0)
    assert result.frames.shape == (3, *shape, 3)
    assert [index_of(f) for f in result.frames] == [expected_index(t) for t in result.times]


# ---- rgb_frames layout ----------------------------------------------------------------------------

@pytest.mark.parametrize("fps", [None, 25.0])
def test_rgb_frames_pick_the_nearest_jpeg(tmp_path, fps):
    write_jpegs(tmp_path / "root" / "P01" / "rgb_frames" / "P01_01", 100)
    smp = sampler(tmp_path, n_frames=8, size=24, layout="rgb_frames", fps=fps)
    rate = fps or 50.0
    result = smp.frames(tmp_path / "root", "P01_01", 0.1, 1.9)
    assert result.ok, result.error
    assert result.frames.shape == (8, 24, 32, 3)
    assert result.source == "P01/rgb_frames/P01_01"
    assert [index_of(f) for f in result.frames] == [expected_index(t, rate) for t in result.times]
    assert smp.describe()["fps"] == rate


def test_rgb_frames_missing_jpeg_or_folder_is_an_error(tmp_path):
    root = tmp_path / "root"
    write_jpegs(root / "P01" / "rgb_frames" / "P01_01", 10)  # 0.2 s at 50 fps
    smp = sampler(tmp_path, n_frames=4, layout="rgb_frames")
    result = smp.frames(root, "P01_01", 0.0, 1.0)
    assert not result.ok and result.frames is None
    # 0.125 s -> frame 7 exists; 0.375 s -> 18.75 -> the 19th index, frame_...20.jpg, does not.
    assert "missing frame" in result.error and "frame_0000000020.jpg" in result.error
    missing = smp.frames(root, "P01_02", 0.0, 0.1)
    assert "P01/rgb_frames/P01_02: no such frame folder" in missing.error
    (root / "P01" / "rgb_frames" / "P01_01" / "frame_0000000002.jpg").write_bytes(b"not a jpeg")
    assert "unreadable JPEG" in smp.frames(root, "P01_01", 0.0, 0.04).error


def test_rgb_frame_symlinked_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    folder = write_jpegs(root / "P01" / "rgb_frames" / "P01_01", 3)
    outside = write_jpegs(tmp_path / "elsewhere", 3)
    (folder / "frame_0000000002.jpg").unlink()
    (folder / "frame_0000000002.jpg").symlink_to(outside / "frame_0000000002.jpg")
    result = sampler(tmp_path, n_frames=1, layout="rgb_frames").frames(root, "P01_01", 0.0, 0.04)
    assert "outside the video root" in result.error


# ---- errors never raise ---------------------------------------------------------------------------

def test_missing_garbage_and_too_short_videos_give_an_error_reason(root, tmp_path):
    smp = sampler(tmp_path, n_frames=8)
    cases = {
        ("P01_99", 0.0, 1.0): "P01/videos/P01_99.MP4: no such video",
        ("P01_01", 3.0, 6.0): "goes beyond the end of the video (4.000 s)",
        ("P01_01", 4.5, 5.0): "goes beyond the end of the video",
        ("P01_01", 2.0, 1.0): "bad segment",
        ("P01_01", -1.0, 1.0): "bad segment",
    }
    for (vid, start, end), reason in cases.items():
        result = smp.frames(root, vid, start, end)
        assert not result.ok and result.frames is None and reason in result.error, result.error
    garbage = tmp_path / "g" / "P03" / "videos" / "P03_01.MP4"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    result = smp.frames(tmp_path / "g", "P03_01", 0.0, 1.0)
    assert result.error.startswith("P03/videos/P03_01.MP4: cannot read frames:"), result.error
    assert "\n" not in result.error
    assert "is not a folder" in smp.frames(tmp_path / "nowhere", "P01_01", 0, 1).error
    assert smp.cache.stats()["writes"] == 0  # errors are never cached


def test_truncated_video_is_an_error(root, tmp_path):
    data = (root / "P01" / "videos" / "P01_01.MP4").read_bytes()
    cut = tmp_path / "t" / "P01" / "videos" / "P01_01.MP4"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(data[: len(data) // 2])
    result = sampler(tmp_path, n_frames=8).frames(tmp_path / "t", "P01_01", 0.0, 4.0)
    assert not result.ok and "P01/videos/P01_01.MP4" in result.error


@pytest.mark.parametrize("video_id,reason", [
    ("../P01_01", "contains '..'"),
    ("P01/../../P01_01", "contains '..'"),
    ("..", "contains '..'"),
    ("/etc/passwd", "is an absolute path"),
    ("P01/P01_01", "contains a path separator"),
    ("P01\\P01_01", "contains a path separator"),
    ("", "non-empty string"),
    ("passwd", "not of the form"),
    ("_P01_01", "not of the form"),
    ("P01_", "not of the form"),
])
def test_unsafe_video_ids_are_refused(root, tmp_path, video_id, reason):
    result = sampler(tmp_path).frames(root, video_id, 0.0, 1.0)
    assert not result.ok and reason in result.error, result.error


def test_flat_layout_reads_a_file_named_by_any_safe_id(tmp_path):
    # Goal-Step's uuids and YouTube ids are not EPIC names: the flat layout takes <root>/<id>.<ext>.
    flat = tmp_path / "flat"
    write_video(flat / "c2d06df7-5d3a-4116.mkv")
    write_video(flat / "LtRSn-ntcLY.mp4")
    for video_id in ("c2d06df7-5d3a-4116", "LtRSn-ntcLY"):
        result = sampler(tmp_path, n_frames=4, layout="flat").frames(flat, video_id, 1.0, 3.0)
        assert result.ok, result.error
        assert [index_of(f) for f in result.frames] == [expected_index(t) for t in sample_times(1.0, 3.0, 4)]
    missing = sampler(tmp_path, n_frames=4, layout="flat").frames(flat, "nope", 0.0, 1.0)
    assert missing.error == "nope.mp4: no such video under the video root (.MP4, .mkv, .webm, .avi, .mov tried too)"
    unsafe = sampler(tmp_path, n_frames=4, layout="flat").frames(flat, "../x", 0.0, 1.0)
    assert "contains '..'" in unsafe.error


def test_symlinks_out_of_the_root_are_refused_and_inside_allowed(root, tmp_path):
    outside = write_video(tmp_path / "outside" / "secret.MP4", frames=30)
    box = tmp_path / "box"
    (box / "P01" / "videos").mkdir(parents=True)
    (box / "P01" / "videos" / "P01_01.MP4").symlink_to(outside)  # file link out
    (box / "P02").symlink_to(tmp_path / "outside", target_is_directory=True)  # folder link out
    (tmp_path / "outside" / "videos").mkdir()
    write_video(tmp_path / "outside" / "videos" / "P02_01.MP4", frames=30)
    (box / "P03" / "videos").mkdir(parents=True)
    (box / "P03" / "videos" / "P03_01.MP4").symlink_to(root / "P01" / "videos" / "P01_01.MP4")
    (box / "P04" / "videos").mkdir(parents=True)
    (box / "P04" / "videos" / "P04_01.MP4").symlink_to(box / "P03" / "videos" / "P03_01.MP4")
    smp = sampler(tmp_path, n_frames=2)
    assert "resolves outside the video root" in smp.frames(box, "P01_01", 0, 1).error
    assert "resolves outside the video root" in smp.frames(box, "P02_01", 0, 1).error
    assert "resolves outside the video root" in smp.frames(box, "P03_01", 0, 1).error
    assert smp.frames(box, "P04_01", 0, 1).error is not None  # link to a link that leaves the root
    inside = box / "P05" / "videos"
    inside.mkdir(parents=True)
    (box / "real.MP4").write_bytes((root / "P01" / "videos" / "P01_01.MP4").read_bytes())
    (inside / "P05_01.MP4").symlink_to(box / "real.MP4")
    assert smp.frames(box, "P05_01", 0, 1).ok


# ---- cache ----------------------------------------------------------------------------------------

def test_second_call_is_a_cache_hit_without_decoding(root, tmp_path, monkeypatch):
    calls = []
    real = video._decode_pyav
    monkeypatch.setattr(video, "_decode_pyav", lambda *a: calls.append(a[1]) or real(*a))
    cache = FrameCache(tmp_path / "cache")
    first = FrameSampler(n_frames=8, size=24, backend="pyav", cache=cache)
    a = first.frames(root, "P01_01", 0.5, 2.5)
    assert not a.from_cache and calls == ["P01/videos/P01_01.MP4"]
    assert cache.stats() == {"hits": 0, "misses": 1, "writes": 1}
    # A second model (another sampler, another cache object on the same folder): a hit, no decode.
    other = FrameCache(tmp_path / "cache")
    b = FrameSampler(n_frames=8, size=24, backend="pyav", cache=other).frames(root, "P01_01", 0.5, 2.5)
    assert b.from_cache and len(calls) == 1 and other.stats()["hits"] == 1
    assert np.array_equal(a.frames, b.frames) and b.times == a.times
    # A different N, size or segment is a miss.
    for kwargs, seg in (({"n_frames": 16, "size": 24}, (0.5, 2.5)), ({"n_frames": 8, "size": 32}, (0.5, 2.5)),
                        ({"n_frames": 8, "size": 24}, (0.5, 2.6))):
        FrameSampler(backend="pyav", cache=cache, **kwargs).frames(root, "P01_01", *seg)
    assert len(calls) == 4 and cache.stats() == {"hits": 0, "misses": 4, "writes": 4}
    files = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert len(files) == 4 and all(len(f) == 64 + 4 and f.endswith(".npy") for f in files)  # sha256


def test_cache_key_file_name_and_corrupt_entry(root, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    smp = FrameSampler(n_frames=4, size=24, cache=cache)
    smp.frames(root, "P01_01", 0.0, 1.0)
    path = smp.cache.path_for(smp.cache_key("P01/videos/P01_01.MP4", root / "P01/videos/P01_01.MP4",
                                            sample_times(0.0, 1.0, 4)))
    assert path.is_file() and path.name == key_digest(json.loads(json.dumps(
        smp.cache_key("P01/videos/P01_01.MP4", root / "P01/videos/P01_01.MP4",
                      sample_times(0.0, 1.0, 4))))) + ".npy"
    assert [p for p in path.parent.iterdir() if p.suffix == ".tmp"] == []  # no temp file left
    path.write_bytes(b"truncated")  # a crash mid-write elsewhere: invalid entry = miss, rewritten
    result = smp.frames(root, "P01_01", 0.0, 1.0)
    assert result.ok and not result.from_cache and np.load(path).shape == (4, 24, 32, 3)
    assert smp.frames(root, "P01_01", 0.0, 1.0).from_cache


def test_default_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ACTBENCH_FRAME_CACHE", str(tmp_path / "x"))
    assert FrameSampler().cache.directory == tmp_path / "x"
    monkeypatch.delenv("ACTBENCH_FRAME_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert FrameSampler().cache.directory == tmp_path / "xdg" / "actbench" / "frames"


# ---- config and describe --------------------------------------------------------------------------

def test_describe_is_json_and_names_the_sampling():
    spec = FrameSampler(n_frames=16, size=(448, 448), backend="pyav", cache=None).describe()
    assert json.loads(json.dumps(spec)) == spec
    assert spec["n_frames"] == 16 and spec["size"] == [448, 448] and spec["layout"] == "video"
    assert spec["time_convention"].startswith("segment-centre") and spec["decoder"] == "pyav"
    assert FrameSampler(layout="rgb_frames", cache=None).describe()["decoder"] == "pillow-jpeg"


@pytest.mark.parametrize("kwargs", [{"n_frames": 0}, {"n_frames": 2.5}, {"size": 0}, {"size": (1, 2, 3)},
                                    {"layout": "frames"}, {"fps": 0}, {"backend": "opencv"}])
def test_bad_config_is_a_user_error(kwargs):
    with pytest.raises(ActbenchError):
        FrameSampler(cache=None, **kwargs)


# ---- decord glue (decord itself is optional: a stand-in with its API) -----------------------------

def test_decord_backend_picks_the_same_frames(root, tmp_path, monkeypatch):
    with av.open(str(root / "P01" / "videos" / "P01_01.MP4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    class Array:
        def __init__(self, a):
            self.a = a

        def asnumpy(self):
            return self.a

    class VideoReader:
        def __init__(self, path, ctx=None):
            assert path.endswith("P01_01.MP4")

        def __len__(self):
            return len(decoded)

        def __getitem__(self, i):
            return Array(decoded[i])

        def get_avg_fps(self):
            return float(FPS)

        def get_frame_timestamp(self, idx):
            return np.stack([np.asarray(idx) / FPS, (np.asarray(idx) + 1) / FPS], axis=1)

    fake = types.ModuleType("decord")
    fake.VideoReader, fake.cpu = VideoReader, lambda i: None
    monkeypatch.setitem(sys.modules, "decord", fake)
    smp = FrameSampler(n_frames=8, size=None, cache=None)
    assert smp.decoder == "decord"
    result = smp.frames(root, "P01_01", 0.3, 3.7)
    assert result.ok and [index_of(f) for f in result.frames] == [expected_index(t) for t in result.times]
    assert "goes beyond the end" in smp.frames(root, "P01_01", 3.0, 5.0).error
