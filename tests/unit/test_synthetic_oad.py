"""The synthetic-feature helpers the model tests rely on: deterministic, separable, and right on real timelines.

Separability is shown the way a model would see it: a nearest-prototype classifier (and one whose
prototypes are class means estimated on other videos) labels > 90% of the frames, while the same classifier
with every class given another class's prototype labels almost none.
"""

from __future__ import annotations

import json
from collections import Counter
from types import MappingProxyType

import numpy as np
import pytest

from actbench.datasets.coin import CoinDataset
from actbench.datasets.oad_ground_truth import ek100_ground_truth, write_ground_truth
from actbench.datasets.oad_layout import OadDataset
from tests.helpers.synthetic_oad import (
    COIN_TASKS, LabelTimeline, make_synthetic_coin, nearest_prototype, prototypes, restrict, synthetic_features,
    timeline_from_dir, timeline_from_ground_truth, write_features, write_synthetic_oad)

EK_VIDEOS = ["P01_11", "P01_12", "P01_13"]  # 2,247 + 696 + 376 frames at 4 fps


def toy_timeline() -> LabelTimeline:
    rng = np.random.default_rng(7)
    labels = {f"v{i}": np.repeat(rng.integers(0, 6, size=40), rng.integers(5, 30, size=40)).astype(np.int32)
              for i in range(3)}
    return LabelTimeline(("background", "a", "b", "c", "d", "e"), MappingProxyType(labels), 4.0, "TOY")


def accuracy(timeline: LabelTimeline, protos: np.ndarray, *, seed=0, noise=1.5, videos=None) -> float:
    hits = total = 0
    for video in videos or timeline.videos:
        labels = timeline.labels[video]
        features = synthetic_features(labels, prototypes(len(protos), protos.shape[1], seed=seed), video=video,
                                      seed=seed, noise=noise)
        hits += int((nearest_prototype(features, protos) == labels).sum())
        total += len(labels)
    return hits / total


# ------------------------------------------------------------------------------------------- determinism

def test_same_seed_same_bytes_and_videos_independent_of_each_other(tmp_path):
    timeline = toy_timeline()
    a = write_synthetic_oad(tmp_path / "a", timeline, seed=3)
    b = write_synthetic_oad(tmp_path / "b", timeline, seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * 3
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    alone = LabelTimeline(timeline.class_names, MappingProxyType({"v2": timeline.labels["v2"]}), 4.0, "TOY")
    c = write_synthetic_oad(tmp_path / "c", alone, seed=3)
    assert (c / "features/v2.npy").read_bytes() == (a / "features/v2.npy").read_bytes()
    d = write_synthetic_oad(tmp_path / "d", timeline, seed=4)
    assert not np.allclose(np.load(a / "features/v0.npy"), np.load(d / "features/v0.npy"))


def test_feature_statistics():
    protos = prototypes(6, 32, seed=0)
    assert protos.dtype == np.float32 and np.allclose(np.linalg.norm(protos, axis=1), 1, atol=1e-6)
    labels = np.repeat(np.arange(6), 2000)
    features = synthetic_features(labels, protos, video="x", seed=0, noise=1.5)
    assert features.dtype == np.float32 and features.shape == (12000, 32)
    residual = features - protos[labels]
    assert abs(residual.mean()) < 0.01
    assert np.linalg.norm(residual, axis=1).mean() == pytest.approx(1.5, rel=0.03)  # noise norm ~ 1.5
    tokens = synthetic_features(labels[:10], protos, video="x", seed=0, tokens=10)
    assert tokens.shape == (10, 10, 32) and not np.allclose(tokens[:, 0], tokens[:, 1])


# ------------------------------------------------------------------------------------------- separability

def test_separable_but_not_trivially():
    timeline = toy_timeline()
    protos = prototypes(6, 32, seed=0)
    acc = accuracy(timeline, protos)
    assert 0.9 < acc < 1.0  # noise is larger than a prototype: a few frames land nearer another class
    assert accuracy(timeline, np.roll(protos, 1, axis=0)) < 0.1  # each class scored with another's prototype
    # learnable: class means estimated on v0 and v1 label v2
    feats = {v: synthetic_features(timeline.labels[v], protos, video=v, seed=0) for v in timeline.videos}
    train_x = np.concatenate([feats["v0"], feats["v1"]])
    train_y = np.concatenate([timeline.labels["v0"], timeline.labels["v1"]])
    means = np.stack([train_x[train_y == c].mean(0) for c in range(6)])
    assert (nearest_prototype(feats["v2"], means) == timeline.labels["v2"]).mean() > 0.9


def test_restrict_hand_worked():
    labels = {"x": np.array([0, 1, 1, 2, 3, 3, 3, 4, 4, 0], dtype=np.int32),
              "y": np.array([2, 2, 4, 4, 1, 0], dtype=np.int32),
              "z": np.array([3, 3, 3, 3], dtype=np.int32)}
    timeline = LabelTimeline(("bg", "p", "q", "r", "s"), MappingProxyType(labels), 1.0)
    # over x, y: p 3, q 3, r 3, s 4 -> s first, then the 3-way tie in index order: p, q
    small = restrict(timeline, videos=2, classes=3)
    assert small.class_names == ("bg", "s", "p", "q") and small.videos == ("x", "y")
    assert small.labels["x"].tolist() == [0, 2, 2, 3, 0, 0, 0, 1, 1, 0]
    assert small.labels["y"].tolist() == [3, 3, 1, 1, 2, 0]
    cut = restrict(timeline, videos=["z", "x"], classes=1, max_frames=5)  # z: r 4; x[:5]: p 2, q 1, r 1
    assert cut.class_names == ("bg", "r") and cut.labels["x"].tolist() == [0, 0, 0, 0, 1]


# ------------------------------------------------------------------------------------------- real EK100

@pytest.fixture(scope="module")
def ek_dirs(data_dir, tmp_path_factory):
    gt = ek100_ground_truth(data_dir).subset(EK_VIDEOS)
    root = tmp_path_factory.mktemp("ek")
    write_ground_truth(gt, root / "targets", target_perframe=True)
    write_ground_truth(gt, root / "labels")  # G.json only
    return gt, root


def test_timelines_read_from_the_real_ground_truth(ek_dirs):
    gt, root = ek_dirs
    from_targets, from_labels = timeline_from_dir(root / "targets"), timeline_from_dir(root / "labels")
    assert from_targets.videos == from_labels.videos == tuple(EK_VIDEOS)
    assert from_targets.num_classes == 3807 and from_targets.fps == 4
    for video in EK_VIDEOS:
        assert np.array_equal(from_targets.labels[video], gt.labels(video))
        assert np.array_equal(from_labels.labels[video], gt.labels(video))
    assert timeline_from_ground_truth(gt).class_names == from_targets.class_names


def test_restricted_real_ek100_is_learnable(ek_dirs, tmp_path):
    _, root = ek_dirs
    small = restrict(timeline_from_dir(root / "targets"), videos=3, classes=5)
    # independent count over G.json's class names
    names = json.loads((root / "labels/G.json").read_text())
    counts = Counter(n for v in EK_VIDEOS for n in names[v] if n != "background")
    order = {n: i for i, n in enumerate(json.loads((root / "labels/classes.json").read_text()))}
    top = sorted(counts, key=lambda n: (-counts[n], order[n]))[:5]
    assert small.class_names == ("background", *top)
    for video in EK_VIDEOS:
        expected = [top.index(n) + 1 if n in top else 0 for n in names[video]]
        assert small.labels[video].tolist() == expected

    out = write_synthetic_oad(tmp_path / "oad", small, dim=32, seed=0, test_videos=["P01_13"])
    data = OadDataset.open(out)
    assert data.info.videos("train_session_set") == ("P01_11", "P01_12")
    assert data.info.videos("test_session_set") == ("P01_13",)
    protos = prototypes(6, 32, seed=0)
    hits = total = shifted = 0
    for video in EK_VIDEOS:
        labels, features = data.labels(video), data.features(video)
        assert np.array_equal(labels, small.labels[video]) and features.shape == (len(labels), 32)
        hits += int((nearest_prototype(features, protos) == labels).sum())
        shifted += int((nearest_prototype(features, np.roll(protos, 1, axis=0)) == labels).sum())
        total += len(labels)
    assert hits / total > 0.9 and shifted / total < 0.1


def test_features_written_into_the_ground_truth_folder(ek_dirs):
    _, root = ek_dirs
    timeline = timeline_from_dir(root / "targets")
    write_features(root / "targets", timeline, dim=8, seed=1)
    data = OadDataset.open(root / "targets")
    features = data.features("P01_13")  # checked against the targets' row count
    assert features.shape == (376, 8) and features.dtype == np.float32


# ------------------------------------------------------------------------------------------------- COIN

def test_synthetic_coin_fixture(tmp_path):
    coin_json, features = make_synthetic_coin(tmp_path / "a", seed=0)
    again, _ = make_synthetic_coin(tmp_path / "b", seed=0)
    assert coin_json.read_bytes() == again.read_bytes()
    assert all((features / f.name).read_bytes() == f.read_bytes() for f in (tmp_path / "b/features").iterdir())
    coin = CoinDataset.from_files(coin_json, features)
    assert coin.tasks == ("change bike tire", "make sandwich", "replace SIM card")
    assert coin.steps == tuple(sorted(s for steps in COIN_TASKS.values() for s in steps))
    steps_per_video = [len(steps) for steps in COIN_TASKS.values()]  # 3, 3, 4; 3 training videos per task
    assert len(coin.samples("step", "training")) == 3 * sum(steps_per_video)
    assert len(coin.samples("next", "training")) == 3 * sum(n - 1 for n in steps_per_video)
    assert len(coin.samples("next", "testing")) == sum(n - 1 for n in steps_per_video)
    assert len(coin.samples("task", "training")) == 9 and len(coin.samples("task", "testing")) == 3
    # each step clip's mean feature is nearest to its step's prototype (ids 1.. in COIN_TASKS order)
    ordered = [s for steps in COIN_TASKS.values() for s in steps]
    protos = prototypes(len(ordered) + 1, 16, seed=0)
    samples = coin.samples("step", "testing")
    means = np.stack([coin.features(s).mean(0) for s in samples])
    assert [ordered[i - 1] for i in nearest_prototype(means, protos)] == [s.label for s in samples]


def test_synthetic_coin_with_tokens(tmp_path):
    coin_json, features = make_synthetic_coin(tmp_path, videos_per_task=2, tokens=10, dim=8)
    coin = CoinDataset.from_files(coin_json, features)
    clip = coin.features(coin.samples("task", "testing")[0])
    assert clip.ndim == 3 and clip.shape[1:] == (10, 8)
