"""``actbench difficulty BENCH``: rate every question 1 (very easy) to 4 (hard), stored beside the benchmark.

    actbench difficulty BENCH --rater embedding
    actbench difficulty BENCH --rater llm --model gpt-4o [--max-cost USD] [--concurrency N]
    actbench difficulty BENCH --rater llm --model openai:NAME --base-url URL
    actbench difficulty BENCH --rater llm --model smollm2-135m-blind --prompt letters

The ratings go to ``BENCH_DIR/../<name>-difficulty/<rater-id>.jsonl`` and ``.json``; an interrupted LLM
rating resumes when the same command is run again. ``actbench report`` then shows accuracy per level.
See :mod:`actbench.reports.difficulty_ratings` and :mod:`actbench.reports.difficulty_raters`.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from actbench.cli.common import user_errors
from actbench.cli.run import parse_model_args


@user_errors
def difficulty(
    benchmark: str = typer.Argument(..., help="A benchmark directory, or the name of a built card."),
    rater: str = typer.Option(..., help="llm (a chat model with LLaVAction's prompt) or embedding (offline, "
                                        "all-MiniLM-L6-v2)."),
    model: Optional[str] = typer.Option(None, help="The rating model for --rater llm (gpt-4o, openai:NAME, "
                                                   "smollm2-135m-blind, ...)."),
    prompt: str = typer.Option("paper", help="paper (the reply is a number, as in the paper) or letters (the levels "
                                             "as options A-D, for models scored by their letter logits)."),
    model_arg: List[str] = typer.Option([], help="A model argument KEY=VALUE (repeatable)."),
    base_url: Optional[str] = typer.Option(None, help="An OpenAI-compatible server for openai:MODEL."),
    concurrency: Optional[int] = typer.Option(None, help="Requests in flight for API models."),
    max_cost: Optional[float] = typer.Option(None, help="Stop an API rating before it costs more (USD)."),
    seed: int = typer.Option(0, help="Seed given to the rating model."),
    replace: bool = typer.Option(False, help="Discard this rater's earlier ratings of the benchmark and start over."),
    data_dir: Optional[Path] = typer.Option(None, help="Annotation data for models that read it."),
    results: Path = typer.Option(Path("results"), help="Where built cards are looked up."),
) -> None:
    """Rate each question's difficulty, 1 (very easy) to 4 (hard) (LLaVAction §4.6)."""
    from tqdm import tqdm

    from actbench.reports.difficulty_ratings import RatingSpec, rate

    args = parse_model_args(model_arg)
    for key, value in (("base_url", base_url), ("concurrency", concurrency), ("max_cost", max_cost)):
        if value is not None:
            args[key] = str(value)
    spec = RatingSpec(benchmark=benchmark, rater=rater, model=model, model_args=args, prompt=prompt, seed=seed,
                      replace=replace, data_dir=data_dir, results=results)
    bar = tqdm(desc=f"difficulty ({rater})", unit="q", leave=False, dynamic_ncols=True, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        ratings = rate(spec, progress=progress)
    except KeyboardInterrupt:
        bar.close()
        typer.echo("interrupted: the ratings so far are kept; run the same command to finish", err=True)
        raise typer.Exit(130) from None
    bar.close()
    counts = ratings.meta.counts
    levels = ", ".join(f"{level}: {counts.get(level, 0)}" for level in ("1", "2", "3", "4"))
    unrated = sum(n for key, n in counts.items() if key not in ("1", "2", "3", "4"))
    typer.echo(f"rated {ratings.meta.benchmark['questions']} questions with {ratings.meta.rater_id}: "
               f"levels {levels}; unrated {unrated} -> {ratings.path}")
