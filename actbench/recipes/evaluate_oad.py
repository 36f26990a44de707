"""OAD streaming evaluation of a classifier checkpoint (see evaluate.py for the run directory).

Per video, every frame is predicted from its own window (stride 1 from t = 0), ``batch_size`` frames per
model call; the video's labels are journaled when it is done. Timing covers the model calls only
(feature slicing and file writes are outside the timer), so FPS is the model's, as the paper reports it.
"""

from __future__ import annotations

from pathlib import Path

from actbench.datasets.oad_layout import OadDataset, streaming_windows, window_spec
from actbench.errors import ActbenchError
from actbench.evaluators.latency import ModelTimer
from actbench.evaluators.oad_report import oad_dscore, oad_metrics
from actbench.recipes.build_task import recipe_window
from actbench.recipes.evaluate import JOURNAL, OAD_BENCHMARKS, JournalWriter, write_label_file
from actbench.recipes.oad_task import OadSamples


def _data_root(spec, recipe: dict) -> Path:
    root = spec.data_root or recipe.get("data", {}).get("root")
    if not root:
        raise ActbenchError.bad_value("--data-root", "data root", "the OAD folder (TeSTra layout) of the benchmark",
                                      "none given and no recipe.toml beside the checkpoint names one")
    return Path(root)


def evaluate_oad(model, spec, recipe: dict, out: Path, done: dict, progress) -> dict:
    dataset = OadDataset.open(_data_root(spec, recipe))
    # The window the model was trained with (its recipe's), else the benchmark's default (Tab. 9).
    dataset_name = OAD_BENCHMARKS[spec.benchmark]
    window = recipe_window(recipe, dataset_name) if recipe else window_spec(dataset_name)
    if abs(window.fps - dataset.info.fps) > 1e-9:
        raise ActbenchError.bad_value(dataset.root / "data_info.json", "fps", f"{window.fps} ({spec.benchmark})",
                                      dataset.info.fps)
    names = list(dataset.info.class_names)
    if list(model.spec.heads["action"]) != names:
        raise ActbenchError.bad_value(dataset.root / "data_info.json", "class_names",
                                      "the classes the checkpoint was trained on", f"{len(names)} other names")
    split = spec.split or recipe.get("data", {}).get("test_split", "test_session_set")
    videos = list(dataset.info.videos(split))[: spec.limit]
    samples = OadSamples(dataset, window, model.variant)
    timer = ModelTimer()
    journal = JournalWriter(out / JOURNAL)
    try:
        for n, video in enumerate(videos):
            if video in done:
                continue
            windows = list(streaming_windows(samples.lengths([video]), window))
            labels: list[str] = []
            for i in range(0, len(windows), spec.batch_size):
                batch = [samples.sample(w, with_target=False) for w in windows[i:i + spec.batch_size]]
                with timer.measure(predictions=len(batch)):
                    classes, _ = model.predict(batch, branch=spec.branch)
                labels.extend(names[c] for c in classes)
            journal.write({"key": video, "labels": labels})
            done[video] = {"labels": labels}
            if progress:
                progress(n + 1, len(videos))
    finally:
        journal.close()
    pred = {v: done[v]["labels"] for v in videos}
    gt = {v: [names[c] for c in samples.labels(v)] for v in videos}
    write_label_file(out / "P.json", pred)
    write_label_file(out / "G.json", gt)
    metrics = oad_metrics(pred, gt, fps=dataset.info.fps, background=[names[0]], classes=names)
    metrics.update(oad_dscore(pred, gt, background=[names[0]]))
    if timer.calls:  # a resumed run times only this session's videos
        metrics["timing"] = {**timer.summary(), "frames_timed": timer.predictions}
    metrics["window"] = {"long_frames": window.long_frames, "short_frames": window.short_frames, "fps": window.fps}
    metrics["videos"] = len(videos)
    metrics["frames"] = sum(len(g) for g in gt.values())
    return metrics
