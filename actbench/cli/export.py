"""``actbench export BENCH --format FORMAT --out DIR``: a built benchmark in another tool's format.

    actbench export ek100-mqa-random --format vlmevalkit --out exports/vlmevalkit
    actbench export ek100-mqa-random --format vlmevalkit --frames-root /data/EPIC-KITCHENS --out DIR
    actbench export results/benchmarks/ek100-mqa-prior --format hf --out exports/ek100-mqa-prior-hf
    actbench export ek100-mqa-random --format lmms-eval --out exports/lmms  # lmms-eval --include_path exports/lmms

The formats are registered in :data:`actbench.exporters.EXPORTERS`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from actbench.cli.common import user_errors


@user_errors
def export(
    benchmark: str = typer.Argument(..., help="A benchmark directory, or the name of a built card."),
    format: str = typer.Option(..., "--format", help="vlmevalkit (multiple-choice TSV), hf (parquet + dataset "
                                                     "card) or lmms-eval (task folder for --include_path)."),
    out: Path = typer.Option(..., help="A new (or empty) output folder; an export never overwrites."),
    frames_root: str | None = typer.Option(None, help="vlmevalkit, lmms-eval: the EPIC rgb_frames root "
                                                         "(P01/rgb_frames/P01_01/frame_*.jpg); the export then lists "
                                                         "each question's frames. Without it: video path + times."),
    frames: int = typer.Option(8, help="Frames per question with --frames-root (as `actbench run --frames`)."),
    results: Path = typer.Option(Path("results"), help="Where built cards are looked up."),
) -> None:
    """Export BENCHMARK for VLMEvalKit, Hugging Face datasets or lmms-eval, with its hash and licence."""
    from actbench.exporters import ExportOptions, export_benchmark

    done = export_benchmark(benchmark, format, out, options=ExportOptions(frames_root=frames_root, n_frames=frames),
                            results=results)
    typer.echo(f"exported {done.questions} questions of {done.benchmark} as {done.format} to {done.out}: "
               f"{', '.join(done.files)}")
