"""Speed of build-mqa from a full-size score matrix (issue: no more than 2x load + one argpartition).

Writes a 9,668 x 3,806 float32 score matrix for the real validation clips as an uncompressed .npz
(the ``scores`` source), then measures side by side, in one process:

- the baseline: loading the matrix from the file, and one ``numpy.argpartition`` over it (k = K-1);
- the build: ``build_mqa`` from that file to a written benchmark directory, with the annotation tables
  already in memory (a second build in the same process), and cold (annotations parsed too).

Each figure is the best of ``--repeat`` runs. Run: ``ACTBENCH_DATA_DIR=../shared/data python perf/build_mqa.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from actbench.datasets.epic_kitchens import EpicKitchens100
from actbench.mqa_builder import build as build_module
from actbench.mqa_builder.build import BuildSpec, build_mqa


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    dataset = EpicKitchens100.from_data_dir()
    clips, space = dataset.validation, dataset.action_space
    dataset.train, dataset.narrations_by_action  # noqa: B018  (parse every table the build reads)
    cold_annotations = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    scores = rng.standard_normal((len(clips), len(space)), dtype=np.float32)
    work = Path(tempfile.mkdtemp(prefix="actbench-perf-"))
    npz = work / "scores.npz"
    np.savez(npz, narration_ids=np.array([c.narration_id for c in clips]), scores=scores,
             classes=np.array(space.keys))
    del scores
    print(f"matrix {len(clips)} x {len(space)} float32, {npz.stat().st_size / 2**20:.0f} MiB, K={args.k}")

    def load():
        return np.load(npz)["scores"]

    matrix = load()
    t_load = best(load, args.repeat)
    t_part = best(lambda: np.argpartition(matrix, matrix.shape[1] - args.k, axis=1), args.repeat)
    baseline = t_load + t_part
    matrix = None  # free 141 MiB before the builds

    results = {}
    # The annotation tables are parsed once (as a long-lived process or a second build would have them).
    with mock.patch.object(build_module.EpicKitchens100, "from_data_dir", return_value=dataset):
        for mode in ("label", "narration"):
            spec = BuildSpec(source="scores", predictions=npz, out=work / f"bench-{mode}", k=args.k, options=mode)
            results[mode] = best(lambda: build_mqa(spec), args.repeat)

    # The mining stage alone: read and validate the file, choose the distractors, rank the answers.
    from actbench.mqa_builder.distractors import ranks_of, select_distractors
    from actbench.mqa_builder.option_text import LabelTexts
    from actbench.mqa_builder.ranking import SourceContext
    from actbench.mqa_builder.sources import SOURCES

    truth = dataset.action_ids(clips)
    texts = LabelTexts(space.labels, truth)

    def mine():
        ranking = SOURCES.get("scores")(SourceContext(dataset, "validation", clips, npz, 0))
        matrix = ranking.aligned_to(clips)
        select_distractors(matrix, truth, n_distractors=args.k - 1, text_ids=texts.text_ids,
                           answer_text_ids=texts.answer_text_ids)
        ranks_of(matrix, truth)

    t_mine = best(mine, args.repeat)

    print(f"baseline: load {t_load:.3f} s + argpartition {t_part:.3f} s = {baseline:.3f} s")
    print(f"mining alone (read + validate + distractors + answer ranks): {t_mine:.3f} s = "
          f"{t_mine / baseline:.2f} x baseline")
    for mode, seconds in results.items():
        print(f"build ({mode} options, annotations in memory): {seconds:.3f} s = {seconds / baseline:.2f} x baseline")
    print(f"parsing the annotation CSVs once (cold start, not part of the ratio): {cold_annotations:.3f} s")


if __name__ == "__main__":
    main()
