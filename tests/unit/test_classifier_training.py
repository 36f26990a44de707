"""`actbench train` then `actbench run` for the Gen / Disc / GAD classifiers, end to end on a tiny Llama.

The OAD data is the real EPIC-KITCHENS-100 validation timeline (the labels of real videos, at 4 fps)
with synthetic features (tests/helpers/synthetic_oad.py); COIN is a synthetic coin.json in the official
format. Checked: the recipe's settings, training through the real trainer (loss falls, accuracy far above
chance), a killed-then-resumed training giving bit-identical weights, label_2stage freezing what it
should, streaming evaluation agreeing with `actbench score oad`, a resumed evaluation, and the errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from safetensors.torch import load_file  # noqa: E402

from actbench.cli import main  # noqa: E402
from actbench.datasets.oad_ground_truth import ek100_ground_truth  # noqa: E402
from tests.helpers.synthetic_oad import (make_synthetic_coin, restrict, timeline_from_ground_truth,  # noqa: E402
                                         write_synthetic_oad)
from tests.helpers.tiny_lm import build_tiny_llama  # noqa: E402

VIDEO = "P01_11"  # a long real video: its four most frequent actions become the classes


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny")


@pytest.fixture(scope="module")
def oad_root(data_dir, tmp_path_factory):
    gt = ek100_ground_truth(data_dir)
    timeline = restrict(timeline_from_ground_truth(gt), videos=[VIDEO], classes=4, max_frames=480)
    return write_synthetic_oad(tmp_path_factory.mktemp("oad") / "ek100", timeline, dim=32, seed=0, noise=1.0)


def _tiny(llama, coin: bool = False, **extra) -> list[str]:
    """Overrides for a tiny run: the tiny Llama, small LoRA, and (OAD) a 4-frame window without long-term."""
    sets = {"model.backbone": f"'{llama}'", "model.lora_r": 8, "model.lora_alpha": 16, "train.lr": 0.01,
            "train.micro_batch": 8, "train.batch_size": 8, "train.warmup_ratio": 0.1, "train.checkpoint_every": 4,
            "train.log_every": 1, "data.long_frames": 0, "data.short_frames": 4, **extra}
    if coin:
        del sets["data.long_frames"], sets["data.short_frames"]
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


def cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _log(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_train_resume_and_evaluate_a_disc_model_on_real_ek100_timelines(llama, oad_root, tmp_path, capsys):
    args = ["train", "--recipe", "disc-smollm2-ek100", "--set", f"data.root='{oad_root}'",
            *_tiny(llama, **{"train.epochs": 4, "model.lora_dropout": 0.1})]
    code, out, err = cli(capsys, *args, "--out", str(tmp_path / "straight"))
    assert code == 0, err
    log = _log(tmp_path / "straight")
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    # The recipe as resolved is kept beside the run, with the paper's EK100 settings and the overrides.
    saved = (tmp_path / "straight" / "recipe.toml").read_text()
    assert "background_weight = 0.5" in saved and "epochs = 4" in saved and 'variant = "disc"' in saved

    # Killed after 6 steps (a session limit stands in for the kill), then resumed: the same weights, bit for bit.
    code, _, err = cli(capsys, *args, "--out", str(tmp_path / "resumed"), "--set", "train.max_steps=6")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()] == ["step-4"]
    code, _, err = cli(capsys, *args, "--out", str(tmp_path / "resumed"), "--resume")
    assert code == 0, err
    straight = load_file(tmp_path / "straight" / "final" / "trainable.safetensors")
    resumed = load_file(tmp_path / "resumed" / "final" / "trainable.safetensors")
    assert straight.keys() == resumed.keys() and any("lora_" in k for k in straight)
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key

    # Streaming evaluation, then the same numbers from the files it wrote through `actbench score oad`.
    run_dir = tmp_path / "run"
    code, out, err = cli(capsys, "run", "--model", "disc-smollm2", "--benchmark", "oad-ek100", "--checkpoint",
                         str(tmp_path / "straight" / "final"), "--out", str(run_dir), "--batch-size", "16")
    assert code == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    gt = json.loads((run_dir / "G.json").read_text())
    assert list(gt) == [VIDEO] and len(gt[VIDEO]) == metrics["frames"] == 480
    assert metrics["frame_accuracy"] > 80  # 5 classes; background, the majority, is 55% of the frames
    assert metrics["timing"]["predictions"] == 480 and metrics["timing"]["fps"] > 0
    code, out, _ = cli(capsys, "score", "oad", "--pred", str(run_dir / "P.json"), "--gt", str(run_dir / "G.json"),
                       "--fps", "4", "--json")
    scored = json.loads(out)
    for key in ("segment_f1@0.1", "point_f1@1s", "frame_accuracy"):
        assert scored[key] == pytest.approx(metrics[key])

    # A run cut inside its journal's line resumes to the same predictions.
    journal = run_dir / "predictions.jsonl"
    journal.write_bytes(journal.read_bytes()[:-40])
    (run_dir / "classifier_run.json").write_text(
        (run_dir / "classifier_run.json").read_text().replace('"complete"', '"running"'))
    before = (run_dir / "P.json").read_text()
    code, _, err = cli(capsys, "run", "--model", "disc-smollm2", "--benchmark", "oad-ek100", "--checkpoint",
                       str(tmp_path / "straight" / "final"), "--out", str(run_dir), "--batch-size", "16", "--resume")
    assert code == 0, err
    assert (run_dir / "P.json").read_text() == before


@pytest.mark.slow
def test_label_2stage_trains_generation_then_only_cls_and_head(llama, oad_root, tmp_path, capsys):
    out = tmp_path / "two"
    code, _, err = cli(capsys, "train", "--recipe", "gad-label-2stage-smollm2-ek100", "--set",
                       f"data.root='{oad_root}'", *_tiny(llama, **{"train.epochs": 2, "train.checkpoint_every": 1000}),
                       "--out", str(out))
    assert code == 0, err
    stages = [r["stage"] for r in _log(out)]
    assert stages[0] == "gen" and stages[-1] == "head" and "ce" not in _log(out)[0] and "lm" not in _log(out)[-1]
    first_stage_end = sorted((out / "checkpoints").iterdir(), key=lambda p: int(p.name.split("-")[1]))[0]
    # Checkpoints at each epoch's end: the first one closes the generative stage (its one epoch done).
    assert {k: json.loads((first_stage_end / "trainer.json").read_text())[k] for k in ("stage", "epoch")} == \
        {"stage": 0, "epoch": 1}
    before = load_file(first_stage_end / "model" / "trainable.safetensors")
    after = load_file(out / "final" / "trainable.safetensors")
    for key in before:
        frozen = not key.startswith(("cls_tokens", "heads."))
        assert torch.equal(before[key], after[key]) == frozen, key


@pytest.mark.slow
def test_coin_multitask_gad_learns_steps_next_steps_and_tasks(llama, tmp_path, capsys):
    coin_json, features = make_synthetic_coin(tmp_path / "coin", videos_per_task=5, dim=16, tokens=2, noise=0.5)
    out = tmp_path / "train"
    code, _, err = cli(capsys, "train", "--recipe", "gad-smollm2-coin", "--set", f"data.coin_json='{coin_json}'",
                       "--set", f"data.features='{features}'", "--set", "data.tokens_per_frame=2",
                       *_tiny(llama, coin=True, **{"train.epochs": 12, "train.warmup_ratio": 0.05}), "--out", str(out))
    assert code == 0, err
    code, _, err = cli(capsys, "run", "--model", "gad-smollm2", "--benchmark", "coin", "--checkpoint",
                       str(out / "final"), "--out", str(tmp_path / "run"), "--batch-size", "8")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # Test videos: 3 tasks (chance 1/3), 10 steps (chance 1/10); next steps follow a fixed order.
    assert metrics["task_n"] == 3 and metrics["task_top1"] == 100.0
    assert metrics["step_top1"] >= 70 and metrics["next_top1"] >= 50


def test_recipe_and_run_errors_are_one_line(llama, oad_root, tmp_path, capsys):
    code, _, err = cli(capsys, "train", "--recipe", "disc-smollm2-ek100")
    assert code == 2 and err.strip() == ("actbench: error: recipe disc-smollm2-ek100: field 'data.root': expected a "
                                         "folder in the TeSTra layout, found nothing (set it with --set "
                                         "data.root=...)")
    code, _, err = cli(capsys, "train", "--recipe", "disc-smollm2-ek100", "--set", "train.epoch=3")
    assert code == 2 and "field 'train.epoch': expected a field of [train]" in err
    code, _, err = cli(capsys, "train", "--recipe", "disc-smollm2-ek101")
    assert code == 2 and "did you mean 'disc-smollm2-ek100'" in err and len(err.strip().splitlines()) == 1
    # Resuming with another recipe is refused, naming the field that changed.
    args = ["train", "--recipe", "disc-smollm2-ek100", "--set", f"data.root='{oad_root}'",
            *_tiny(llama, **{"train.epochs": 1, "train.max_steps": 1}), "--out", str(tmp_path / "t")]
    assert cli(capsys, *args)[0] == 0
    code, _, err = cli(capsys, *args, "--resume", "--set", "data.background_weight=0.2")
    assert code == 2 and "field 'data.background_weight'" in err and "resume cannot change it" in err
    code, _, err = cli(capsys, *args)
    assert code == 2 and "expected an empty folder (or --resume to continue)" in err
    # The registered model must match the checkpoint's variant.
    code, _, err = cli(capsys, "run", "--model", "gad-smollm2", "--benchmark", "oad-ek100", "--checkpoint",
                       str(tmp_path / "t" / "final"), "--out", str(tmp_path / "r"))
    assert code == 2 and "field 'variant.kind': expected gad (the model gad-smollm2), found disc" in err
    assert not (tmp_path / "r").exists()
    code, _, err = cli(capsys, "run", "--model", "disc-smollm2", "--benchmark", "oad-ek100", "--checkpoint",
                       str(tmp_path / "nowhere"))
    assert code == 2 and "model.json': expected a checkpoint folder written by actbench train" in err


def test_generated_recipes_carry_the_papers_settings():
    from actbench.recipes.recipe import available_recipes, resolve_recipe

    names = available_recipes()
    assert {"gad-llama3.2-1b-ek100", "disc-llama3-8b-thumos", "gen-qwen2.5-0.5b-crosstask",
            "gen-desync-smollm2-ego4d-goalstep", "gad-prev-disc-plus-llama3.2-1b-coin"} <= set(names)
    expected = {"thumos": (1.0, 50), "crosstask": (0.2, 50), "ek100": (0.5, 50), "ego4d-goalstep": (0.5, 20)}
    for dataset, (weight, epochs) in expected.items():
        r = resolve_recipe(f"gad-llama3.2-1b-{dataset}")
        assert (r["data"]["background_weight"], r["train"]["epochs"]) == (weight, epochs)
        assert (r["train"]["lr"], r["train"]["warmup_ratio"], r["train"]["batch_size"]) == (1e-4, 0.1, 32)
        assert (r["model"]["lora_r"], r["model"]["lora_alpha"]) == (128, 256)
    coin = resolve_recipe("disc-llama3-8b-coin")
    assert (coin["train"]["epochs"], coin["train"]["warmup_ratio"], coin["train"]["batch_size"]) == (5, 0.05, 8)
    assert coin["data"]["tokens_per_frame"] == 10 and coin["model"]["backbone"] == "llama-3-8b-instruct"
    assert np.all([resolve_recipe(n)["task"] in ("oad", "coin", "llavaction-action-token") for n in names[:40]])


@pytest.mark.slow
def test_two_processes_under_accelerate_equal_one_process_with_accumulation(llama, oad_root, tmp_path, capsys):
    """Two processes (torchrun, Accelerator's gloo backend on the CPU; `accelerate launch --multi_gpu` on GPUs):
    rank r takes micro-batches r, r + 2, ... and the gradients are averaged, so one step equals one process
    accumulating both."""
    import os
    import socket
    import subprocess
    import sys

    common = ["train", "--recipe", "gad-smollm2-ek100", "--set", f"data.root='{oad_root}'",
              *_tiny(llama, **{"train.epochs": 1, "train.micro_batch": 4, "train.batch_size": 8,
                               "model.lora_dropout": 0.0, "train.max_steps": 6})]
    code, _, err = cli(capsys, *common, "--out", str(tmp_path / "one"))
    assert code == 0, err
    with socket.socket() as probe:  # a free port on the loopback interface for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
              "--master_port", str(port), "-m", "actbench"]
    done = subprocess.run([*launch, *common, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "ACCELERATE_USE_CPU": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "train_config.json").read_text())["processes"] == 2
    assert [r["step"] for r in _log(tmp_path / "two")] == [1, 2, 3, 4, 5, 6]
    one = load_file(tmp_path / "one" / "final" / "trainable.safetensors")
    two = load_file(tmp_path / "two" / "final" / "trainable.safetensors")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
