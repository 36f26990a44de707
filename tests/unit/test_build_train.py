"""``actbench build-train`` on the real EPIC-KITCHENS-100 training labels and narrations.

Every property is checked against an independent computation written here (naive loops over the
annotations), not against the builder's own helpers.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from actbench.errors import ActbenchError
from actbench.text import normalise
from actbench.training_data import TrainSpec, build_train

N = 3000  # the first 3,000 training clips: P01's videos, both narrated and not
DELTA = 3.0


@pytest.fixture(scope="module")
def scores_file(ek100, tmp_path_factory):
    """A specialist-like score file: random scores with the ground truth often near the top."""
    clips = ek100.train[:N]
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(N, len(ek100.action_space))).astype(np.float32)
    truth = ek100.action_ids(clips)
    scores[np.arange(N), truth] += 2.5
    path = tmp_path_factory.mktemp("specialist") / "train_scores.npz"
    np.savez(path, narration_ids=np.array([c.narration_id for c in clips]), scores=scores,
             classes=np.array(ek100.action_space.keys))
    return path, scores


@pytest.fixture(scope="module")
def built(data_dir, ek100, scores_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "ek100-train"
    manifest = build_train(TrainSpec(source="scores", predictions=scores_file[0], out=out, limit=N, data_dir=data_dir), dataset=ek100)
    records = json.loads((out / "train.json").read_text(encoding="utf-8"))
    return out, manifest, records


def _by_task(records):
    tasks = defaultdict(dict)
    for r in records:
        tasks[r["task"]][r["narration_id"]] = r
    return tasks


def _text(clip, ek100):
    return clip.narration.strip() if clip.narration else ek100.action_space.labels[ek100.action_space.index[clip.class_key]]


def test_counts_per_task(built, ek100):
    out, manifest, records = built
    tasks = _by_task(records)
    clips = ek100.train[:N]
    counts = manifest["counts"]
    assert len(records) == counts["records"] == 3 * N
    assert len(tasks["mqa"]) + len(tasks["mqa_prior_actions"]) == N
    assert len(tasks["temporal_detection"]) == len(tasks["direct_prediction"]) == N
    assert counts["tasks"] == {t: len(tasks.get(t, {})) for t in counts["tasks"]}
    narrated = sum(bool(c.narration) for c in clips)
    assert 0 < narrated < N
    assert counts["mqa_option_text"] == {"narration": narrated, "label": N - narrated}
    assert len({r["id"] for r in records}) == len(records)
    assert set(counts["mqa_answer_letters"].values()) == {N // 5}
    assert json.loads((out / "manifest.json").read_text())["outputs"]["train.json"]
    assert str(out) not in (out / "manifest.json").read_text()
    for clip in clips[:50]:
        direct = tasks["direct_prediction"][clip.narration_id]
        assert direct["conversations"][1]["value"] == _text(clip, ek100)
        assert direct["video"] == f"{clip.participant_id}/videos/{clip.video_id}.MP4"


def test_mqa_answers_and_adversarial_pool(built, ek100, scores_file):
    _, _, records = built
    scores = scores_file[1]
    space = ek100.action_space
    clips = ek100.train[:N]
    mqa = {**_by_task(records)["mqa"], **_by_task(records)["mqa_prior_actions"]}
    deep = []  # share of each label-mode question's distractors ranked 5..10 among the non-answers
    for row, clip in enumerate(clips):
        record = mqa[clip.narration_id]
        human, letter = record["conversations"][0]["value"], record["conversations"][1]["value"]
        options = re.findall(r"^[A-E]\. (.*)$", human, flags=re.MULTILINE)
        assert len(options) == 5 and len({normalise(o) for o in options}) == 5
        assert human.rstrip().endswith("Answer with the option's letter from the given choices directly.")
        truth = space.index[clip.class_key]
        assert options["ABCDE".index(letter)] == _text(clip, ek100)
        order = [c for c in np.lexsort((np.arange(len(space)), -scores[row])) if c != truth]
        distractors = [o for i, o in enumerate(options) if i != "ABCDE".index(letter)]
        if clip.narration is None:  # label options: the pool is exactly the top 10 non-answer labels
            top = [space.labels[c] for c in order[:10]]
            assert all(d in top for d in distractors)
            deep.append(sum(top.index(d) >= 4 for d in distractors) / 4)
        elif row % 10 == 0:  # narration options: narrations of the top classes that have narrations
            with_text = [c for c in order if ek100.narrations_by_action[c]][:14]  # slack for skipped duplicates
            allowed = {n for c in with_text for n in ek100.narrations_by_action[c]}
            assert all(d in allowed for d in distractors)
    # 4 drawn from 10 at random: each of ranks 5..10 is drawn with probability 0.4, so 60% of them.
    assert abs(np.mean(deep) - 0.6) < 4 * math.sqrt(0.24 / (4 * len(deep)))


def test_padding_distribution(built, ek100):
    _, manifest, records = built
    temporal = _by_task(records)["temporal_detection"]
    alphas, clamped = [], 0
    for clip in ek100.train[:N]:
        record = temporal[clip.narration_id]
        human, target = record["conversations"][0]["value"], record["conversations"][1]["value"]
        assert re.fullmatch(r"\d+\.\d\d, \d+\.\d\d", target)
        assert "Format it as 'start_timestamp, end_timestamp'" in human
        assert f"lasts {clip.end - clip.start:.2f} seconds" in human
        t_start, t_end = (float(x) for x in target.split(", "))
        assert t_end - t_start == pytest.approx(clip.end - clip.start, abs=0.011)
        assert record["start"] + t_start == pytest.approx(clip.start, abs=0.006)  # targets relative to start'
        if record["start"] == 0.0 and t_start < DELTA - 1e-9 and clip.start < DELTA:
            clamped += 1  # s - alpha*delta < 0: the target start is s itself, the padding shorter
            assert t_start == pytest.approx(clip.start, abs=0.006)
            continue
        assert 0 <= t_start <= DELTA + 0.006
        alphas.append(t_start / DELTA)
        after = record["end"] - clip.end
        if after < (1 - t_start / DELTA) * DELTA - 0.02:  # clamped at the video's end
            continue
        assert t_start + after == pytest.approx(DELTA, abs=0.011)  # start + end padding = delta
    alphas = np.array(alphas)
    assert clamped <= manifest["counts"]["temporal"]["clamped_start"]
    assert abs(alphas.mean() - 0.5) < 4 * math.sqrt(1 / 12 / len(alphas))
    deciles = np.bincount(np.minimum((alphas * 10).astype(int), 9), minlength=10) / len(alphas)
    assert np.all(np.abs(deciles - 0.1) < 4 * math.sqrt(0.09 / len(alphas)))


def _naive_previous(clips):
    """prev2, prev1 of each clip by a plain loop over each video's clips in time order."""
    videos = defaultdict(list)
    for clip in clips:
        videos[clip.video_id].append(clip)
    found = {}
    for video_clips in videos.values():
        video_clips.sort(key=lambda c: (c.start, c.end, int(c.narration_id.rsplit("_", 1)[1])))
        for i in range(2, len(video_clips)):
            p2, p1, now = video_clips[i - 2], video_clips[i - 1], video_clips[i]
            if p1.start - p2.end <= 3.0 + 1e-6 and now.start - p1.end <= 3.0 + 1e-6:
                found[now.narration_id] = (p2, p1)
    return found


def test_prior_actions_share_and_gap_rule(built, ek100):
    _, manifest, records = built
    tasks = _by_task(records)
    eligible = _naive_previous(ek100.train)  # previous actions come from the whole split
    built_ids = [c.narration_id for c in ek100.train[:N]]
    n_eligible = sum(nid in eligible for nid in built_ids)
    prior = tasks["mqa_prior_actions"]
    assert manifest["counts"]["prior_actions"] == {"eligible": n_eligible, "with_prior": len(prior)}
    assert abs(len(prior) / n_eligible - 0.3) < 4 * math.sqrt(0.21 / n_eligible)
    pattern = re.compile(r"<video>\n(\d+\.\d\d) seconds ago, you started an action (.*)\. (\d+\.\d\d) seconds ago, "
                         r"you started an action (.*)\. What action are you currently performing\? Here are the "
                         r"options of actions you can select:\n")
    clip_of = {c.narration_id: c for c in ek100.train}
    for nid, record in prior.items():
        assert nid in eligible
        p2, p1 = eligible[nid]
        now = clip_of[nid]
        match = pattern.match(record["conversations"][0]["value"])
        assert match, record["conversations"][0]["value"][:200]
        assert float(match[1]) == pytest.approx(now.start - p2.start, abs=0.006)
        assert match[2] == _text(p2, ek100)
        assert float(match[3]) == pytest.approx(now.start - p1.start, abs=0.006)
        assert match[4] == _text(p1, ek100)
        assert now.start - p1.start <= now.start - p2.start


def test_deterministic_bytes(data_dir, ek100, built, scores_file, tmp_path):
    out, _, _ = built
    again = tmp_path / "again"
    build_train(TrainSpec(source="scores", predictions=scores_file[0], out=again, limit=N, data_dir=data_dir), dataset=ek100)
    for name in ("train.json", "manifest.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes()
    other = tmp_path / "other-seed"
    build_train(TrainSpec(source="scores", predictions=scores_file[0], out=other, limit=N, seed=1, data_dir=data_dir), dataset=ek100)
    assert (other / "train.json").read_bytes() != (out / "train.json").read_bytes()


def test_k20_and_random_ablation(data_dir, ek100, tmp_path):
    manifest = build_train(TrainSpec(source="random", out=tmp_path / "k20", k=20, limit=200, data_dir=data_dir), dataset=ek100)
    assert manifest["pool"] == 48 and set(manifest["counts"]["mqa_answer_letters"].values()) == {10}
    record = json.loads((tmp_path / "k20" / "train.json").read_text())[0]
    assert re.search(r"^T\. ", record["conversations"][0]["value"], flags=re.MULTILINE)


def test_captions_and_qa(data_dir, ek100, tmp_path):
    first, second, far = (c.narration_id for c in (ek100.train[0], ek100.train[1], ek100.train[-1]))
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"narration_id": first, "caption": "I open the door."}) + "\n\n"
                        + json.dumps({"narration_id": far, "caption": "Beyond the limit."}) + "\n")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"narration_id": nid, "question": q, "answer": "the door"}) + "\n"
                          for nid, q in ((first, "What do I open?"), (first, "What is shut?"), (second, "Where?"))))
    manifest = build_train(TrainSpec(source="random", out=tmp_path / "out", limit=20, captions=captions, qa=qa,
                                     data_dir=data_dir), dataset=ek100)
    assert manifest["counts"]["tasks"]["caption"] == 1 and manifest["counts"]["tasks"]["open_qa"] == 3
    assert manifest["counts"]["annotations_beyond_limit"] == {"caption": 1, "open_qa": 0}
    assert set(manifest["user_files"]) == {"captions", "qa"}
    records = json.loads((tmp_path / "out" / "train.json").read_text())
    assert [r["id"] for r in records if r["task"] == "open_qa"] == [f"{first}/open_qa/1", f"{first}/open_qa/2",
                                                                    f"{second}/open_qa/1"]


@pytest.mark.parametrize("line, field", [
    ('{"narration_id": "P01_01_0"}', "caption"),
    ('{"narration_id": "P01_01_0", "caption": "x", "extra": 1}', "extra"),
    ('{"narration_id": "P01_01_0", "caption": 3}', "caption"),
    ('{"narration_id": "P01_01_0", "caption": "  "}', "caption"),
    ('{"narration_id": "NOT_A_CLIP", "caption": "x"}', "narration_id"),
    ('{"narration_id": "P01_01_0", "caption": "x"', "line"),
])
def test_bad_captions_file_is_one_line_error(data_dir, ek100, tmp_path, line, field):
    bad = tmp_path / "captions.jsonl"
    bad.write_text(json.dumps({"narration_id": "P01_01_1", "caption": "fine"}) + "\n" + line + "\n")
    with pytest.raises(ActbenchError) as error:
        build_train(TrainSpec(source="random", out=tmp_path / "out", limit=10, captions=bad, data_dir=data_dir), dataset=ek100)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{bad}:2: field '{field}'")
    assert not (tmp_path / "out").exists()


def test_cli_bad_captions_exit_code(data_dir, tmp_path):
    from actbench.cli.build_train import build_train as command

    app = typer.Typer()
    app.command("build-train")(command)
    app.command("other")(lambda: None)
    bad = tmp_path / "captions.jsonl"
    bad.write_text("not json\n")
    result = CliRunner().invoke(app, ["build-train", "--source", "random", "--limit", "5", "--captions", str(bad),
                                      "--out", str(tmp_path / "out"), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("actbench: error:")]
    assert len(lines) == 1 and f"{bad}:1" in lines[0]
