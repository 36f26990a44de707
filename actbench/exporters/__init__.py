"""Export a built benchmark into the formats other evaluation tools read (``actbench export``).

Each format is an :class:`ExportFormat` registered by name in :data:`EXPORTERS` (lazily imported, third
parties add theirs through the ``actbench.exporters`` entry points). :func:`export_benchmark` does what
every format shares: it checks the format, its options and the output folder *before* anything is
written, loads the benchmark (validating it and its hash), and lets the format write its files into a
:class:`~actbench.atomic.StagedDirectory`, so a failed export leaves nothing behind. Same benchmark and
options give byte-identical files.

>>> 'vlmevalkit' in EXPORTERS and 'hf' in EXPORTERS
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actbench.atomic import StagedDirectory
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import Benchmark
from actbench.registry import Registry

EXPORTERS = Registry("export format", entry_point_group="actbench.exporters")
EXPORTERS.register("vlmevalkit", "actbench.exporters.vlmevalkit:FORMAT",
                   summary="VLMEvalKit's multiple-choice TSV (frame paths or video path + times) and a sidecar JSON")
EXPORTERS.register("hf", "actbench.exporters.hf_dataset:FORMAT",
                   summary="Hugging Face datasets folder: data/test-00000-of-00001.parquet and a dataset card")
EXPORTERS.register("lmms-eval", "actbench.exporters.lmms_eval:FORMAT",
                   summary="lmms-eval task folder (--include_path): YAML, docs JSONL, utils.py with actbench's parser")


@dataclass(frozen=True)
class ExportOptions:
    """What a format may need beyond the benchmark.

    ``frames_root``: the root of the EPIC-style ``rgb_frames`` JPEG folders; formats that take frames
    then list, per question, the same ``n_frames`` frames the runner samples (see
    :mod:`actbench.model_adapters.video`). Without it they give the video path and the segment times.
    """

    frames_root: str | None = None
    n_frames: int = 8


@dataclass(frozen=True)
class ExportFormat:
    """A registered export format: ``write(benchmark, folder, options)`` returns the names of the files
    it wrote into ``folder``; ``takes_frames`` says whether ``--frames-root`` means anything to it."""

    name: str
    write: Callable[[Benchmark, Path, ExportOptions], list[str]]
    takes_frames: bool = False


@dataclass(frozen=True)
class ExportResult:
    out: Path
    format: str
    benchmark: str
    questions: int
    files: tuple[str, ...]


def benchmark_provenance(bench: Benchmark) -> dict[str, Any]:
    """How the benchmark was built and which bytes it is: what every export records beside its data."""
    m = bench.manifest
    return {
        "name": bench.name, "dataset": m.dataset, "split": m.split, "source": m.source,
        "source_args": m.source_args, "k": m.k, "options": m.options, "two_stage": m.two_stage, "seed": m.seed,
        "limit": m.limit, "questions": len(bench.questions), "questions_sha256": m.questions_sha256,
        "manifest_sha256": bench.manifest_sha256, "actbench_version": m.actbench_version,
        "inputs": [{"name": i.name, "sha256": i.sha256} for i in m.inputs],
    }


def _check_options(fmt: ExportFormat, options: ExportOptions) -> None:
    if options.frames_root is not None and not fmt.takes_frames:
        takers = [n for n in EXPORTERS.names() if EXPORTERS.get(n).takes_frames]
        raise ActbenchError.bad_value("--frames-root", "format", f"a format that lists frames ({', '.join(takers)})",
                                      fmt.name)
    n = options.n_frames
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ActbenchError.bad_value("--frames", "frames", "an integer >= 1", n)


def _check_out(out: Path) -> None:
    # An export never replaces anything: the folder must be new or empty.
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ActbenchError(f"{out}: exists and is not an empty directory; choose another --out "
                            "(export never overwrites)")


def export_benchmark(benchmark: str, fmt: str, out: Path, *, options: ExportOptions = ExportOptions(),
                     results: Path = Path("results")) -> ExportResult:
    """Export ``benchmark`` (a benchmark directory or a built card's name) as ``fmt`` into the new folder ``out``."""
    from actbench.mqa_builder.benchmark_dir import load_benchmark
    from actbench.runner import resolve_benchmark

    exporter = EXPORTERS.get(fmt)
    _check_options(exporter, options)
    out = Path(out)
    _check_out(out)
    bench = load_benchmark(resolve_benchmark(benchmark, results))
    with StagedDirectory(out) as staging:
        files = exporter.write(bench, staging, options)
    return ExportResult(out, fmt, bench.name, len(bench.questions), tuple(files))
