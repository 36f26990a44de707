"""``actbench run``: answer a benchmark with a model; the run directory gets the journal and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from actbench.cli.common import user_errors
from actbench.errors import ActbenchError


def parse_model_args(pairs: list[str]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ActbenchError.bad_value("--model-arg", "model-arg", "KEY=VALUE", pair)
        args[key] = value
    return args


@user_errors
def run(
    model: str = typer.Option(..., help="Model name (see `actbench list`)."),
    benchmark: str = typer.Option(..., help="A benchmark directory, or the name of a built card."),
    out: Optional[Path] = typer.Option(None, help="Run directory (default results/runs/BENCHMARK/MODEL)."),
    limit: Optional[int] = typer.Option(None, help="Answer only the first N questions."),
    seed: int = typer.Option(0, help="Seed of the model's random steps and of the bootstrap."),
    resume: bool = typer.Option(False, help="Finish an interrupted run in --out from its journal."),
    model_arg: List[str] = typer.Option([], help="A model argument KEY=VALUE (repeatable)."),
    model_path: Optional[Path] = typer.Option(None, help="Local weights of a model "
                                              "(same as --model-arg model_path=...)."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1, ... for local models."),
    dtype: Optional[str] = typer.Option(None, help="float32, bfloat16, float16 for local models."),
    base_url: Optional[str] = typer.Option(None, help="An OpenAI-compatible server for openai:MODEL."),
    concurrency: Optional[int] = typer.Option(None, help="Requests in flight for API models."),
    max_cost: Optional[float] = typer.Option(None, help="Stop an API run before it costs more (USD)."),
    permutations: int = typer.Option(0, help="Also ask each question with its options rotated 1..K times "
                                             "(CircularEval accuracy and position bias)."),
    data_dir: Optional[Path] = typer.Option(None, help="Annotation data (default $ACTBENCH_DATA_DIR)."),
    video_root: Optional[Path] = typer.Option(None, help="EPIC-KITCHENS videos (P01/videos/P01_01.MP4) for models "
                                                        "that look at frames."),
    frames: int = typer.Option(8, help="Frames sampled uniformly in each clip (the papers use 8, 16, 32)."),
    frame_size: int = typer.Option(384, help="Short side of the frames in pixels."),
    video_layout: str = typer.Option("video", help="video (EPIC P01/videos/P01_01.MP4), rgb_frames (EPIC JPEG "
                                                     "folders) or flat (<root>/<video id>.mp4: the other datasets)."),
    sap: bool = typer.Option(False, "--sap", help="Sequential action prediction: the model's own answers to the "
                                                  "two previous actions of the video go into the prompt."),
    shard: Optional[str] = typer.Option(None, help="i/n: answer only shard i of n (0 <= i < n; questions dealt "
                                        "round robin, whole videos with --sap); join shards with `actbench merge`."),
    rank_timeout: float = typer.Option(120.0, help="Under torchrun / accelerate launch: seconds without a heartbeat "
                                       "after which a process counts as killed or not started, and the others stop."),
    checkpoint: Optional[Path] = typer.Option(None, help="A checkpoint from `actbench train`: gen-/disc-/gad-* "
                                              "models on oad-* / coin-* benchmarks, or llavaction-action-token."),
    data_root: Optional[Path] = typer.Option(None, help="OAD: the TeSTra-layout folder; COIN: the features folder "
                                             "(default: the training recipe's)."),
    coin_json: Optional[Path] = typer.Option(None, help="COIN's coin.json (default: the training recipe's)."),
    batch_size: int = typer.Option(1, help="Classifier benchmarks: frames / samples per model call (1 = streaming)."),
    branch: str = typer.Option("auto", help="Classifier benchmarks: auto, or gen for a GAD model's generated text."),
) -> None:
    """Run MODEL on BENCHMARK, journaling each answer; --resume continues a killed run.

    Under `torchrun` or `accelerate launch` the processes share the questions of one run (one GPU each)."""
    from actbench.recipes.evaluate import CLASSIFIER_MODELS, is_classifier_benchmark
    from actbench.runs.ranks import launch_from_environment

    launch = launch_from_environment()
    if is_classifier_benchmark(benchmark) or model in CLASSIFIER_MODELS:
        if shard is not None:
            raise ActbenchError.bad_value("--shard", "shard", "no --shard (classifier benchmarks are not sharded)",
                                          shard)
        if launch is not None:
            raise ActbenchError.bad_value("environment", "WORLD_SIZE", "1 (classifier benchmarks run in one "
                                          "process: run without a launcher)", launch.world_size)
        return _run_classifier(model, benchmark, checkpoint, out, data_root, coin_json, batch_size, branch, limit,
                               resume)
    from tqdm import tqdm

    from actbench.runner import RunSpec, run as run_benchmark
    from actbench.runs.shard import parse as parse_shard

    args = parse_model_args(model_arg)
    # The common model arguments have flags of their own; they land in the same place.
    for key, value in (("model_path", model_path), ("device", device), ("dtype", dtype), ("base_url", base_url),
                       ("concurrency", concurrency), ("max_cost", max_cost), ("checkpoint", checkpoint)):
        if value is not None:
            args[key] = str(value)
    spec = RunSpec(model=model, benchmark=benchmark, out=out, limit=limit, seed=seed, resume=resume,
                   data_dir=data_dir, model_args=args, permutations=permutations,
                   video_root=video_root, n_frames=frames, frame_size=frame_size, video_layout=video_layout,
                   sap=sap, shard=parse_shard(shard) if shard is not None else None, rank_timeout=rank_timeout)
    first = launch is None or launch.rank == 0  # one bar and one result line per launch
    desc = model if launch is None else f"{model} (rank 0 of {launch.world_size})"
    bar = tqdm(desc=desc, unit="q", leave=False, dynamic_ncols=True, disable=None if first else True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        run_dir = run_benchmark(spec, progress=progress, launch=launch)
    except KeyboardInterrupt:
        bar.close()
        typer.echo("interrupted: the journal is intact; finish with --resume", err=True)
        raise typer.Exit(130) from None
    bar.close()
    if not first:
        return
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    low, high = metrics["accuracy_ci95"]
    circular = metrics.get("circular")
    extra = f", CircularEval {circular['circular_accuracy']:.2f}%" if circular else ""
    extra += " (SAP)" if sap else ""
    extra += f" (shard {shard} of {metrics['part']['of']})" if shard is not None else ""
    extra += f" ({launch.world_size} processes)" if launch is not None else ""
    typer.echo(f"{model} on {metrics['benchmark']}: accuracy {metrics['accuracy']:.2f}% "
               f"[{low:.2f}, {high:.2f}] over {metrics['n']} questions{extra} -> {run_dir}")


def _run_classifier(model, benchmark, checkpoint, out, data_root, coin_json, batch_size, branch, limit, resume):
    """Gen / Disc / GAD checkpoints on OAD and COIN (recipes/evaluate.py)."""
    import json

    from actbench.recipes.evaluate import EvalSpec, evaluate

    if checkpoint is None:
        raise ActbenchError.bad_value("--checkpoint", "checkpoint", f"a checkpoint folder for {benchmark}", "none")
    spec = EvalSpec(model=model, benchmark=benchmark, checkpoint=checkpoint, out=out, data_root=data_root,
                    coin_json=coin_json, batch_size=batch_size, branch=branch, limit=limit, resume=resume)
    run_dir = evaluate(spec)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    shown = {k: round(v, 2) for k, v in metrics.items() if isinstance(v, float)}
    typer.echo(f"{model} on {benchmark}: {json.dumps(shown)} -> {run_dir}")
