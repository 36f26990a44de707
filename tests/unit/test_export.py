"""``actbench export``: VLMEvalKit's MCQ TSV and a Hugging Face datasets folder, each read back.

The TSV is read as VLMEvalKit reads it (``pd.read_csv(path, sep='\\t')``) and compared with
``questions.jsonl`` field by field; a fixed set of predictions scored with VLMEvalKit's exact-matching
rule (written out below from its code) gives actbench's accuracy; the frame paths are checked against
the frames the runner's sampler actually reads from an ``rgb_frames`` folder.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import string
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from actbench.cli import app
from actbench.errors import ActbenchError
from actbench.evaluators.mqa_accuracy import score_mqa
from actbench.exporters import ExportOptions, export_benchmark
from actbench.exporters.vlmevalkit import PANDAS_NA_STRINGS
from actbench.mqa_builder.benchmark_dir import (
    QUESTIONS,
    load_benchmark,
    write_benchmark,
)
from actbench.records import LETTERS, Answer

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

runner = CliRunner()
QUESTION = "What action are you doing?"


def _q(qid, video, start, end, options, answer, classes=None, ranks=None, **extra):
    n = len(options)
    return {"id": qid, "video_id": video, "start": start, "end": end, "question": QUESTION, "options": options,
            "answer_index": answer, "answer_letter": None if answer is None else LETTERS[answer],
            "option_classes": classes or [f"{i}:{i}" for i in range(n)], "source_ranks": ranks or [None] * n,
            **extra}


# Hand-made questions covering what a TSV can get wrong: 2 to 5 options, a two-stage question without the
# answer, text that needs CSV quoting (tab, quote, newline), extra fields, ties in the frame times.
CRAFTED = [
    _q("P01_11_0", "P01_11", 0.0, 0.16, ["take plate", "wash cup", "open tap", "cut onion", "close fridge"], 0,
       ranks=[3, 1, None, 2, 4], skipped=[{"class": "1:2", "rank": 5, "reason": "no_text"}]),
    _q("P01_11_1", "P01_11", 1.56, 2.45, ["put down 'knife'", 'say "hello"'], 1),
    _q("P01_11_2", "P01_11", 2.0, 2.0, ["take\tplate", "stir\nsauce", "open drawer"], 2),
    _q("P02_03_0", "P02_03", 3.3, 5.01, ["pour water", "rinse pan", "open lid", "take spoon"], None),
    _q("P02_03_1", "P02_03", 0.5, 1.0, ["dry hands", "turn off tap", "put pan", "take lid", "grab towel"], 4),
    _q("P02_03_2", "P02_03", 4.2, 6.4, ["scrub board", "pick up onion", "throw peel"], 0, note="free text"),
]


def _manifest(dataset="epic-kitchens-100", name="crafted"):
    return {"name": name, "dataset": dataset, "split": "validation", "source": "prior", "source_args": {}, "k": 5,
            "options": "narration", "two_stage": True, "seed": 3, "limit": None,
            "inputs": [{"name": "epic-kitchens-100/annotations/EPIC_100_validation.csv", "sha256": "ab" * 32}],
            "counts": {"questions": len(CRAFTED)}}


# The fixtures `crafted` (these questions as a benchmark directory) and `real` (300 real questions) live in
# tests/unit/conftest.py: the lmms-eval export tests use them too.


def _jsonl(bench: Path) -> list[dict]:
    return [json.loads(line) for line in (bench / QUESTIONS).read_text(encoding="utf-8").splitlines()]


def _read_tsv(folder: Path, name: str):
    return pd.read_csv(folder / f"{name}.tsv", sep="\t")  # exactly VLMEvalKit's load_tsv


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- VLMEvalKit ---------------------------------------------------------------------------------------------

def _nearest_frames(start, end, n, fps=50):
    """Per segment-centre time (microseconds), the set of frames (frame k shown at (k - 1) / fps) nearest to it,
    in exact arithmetic: one frame, or the two neighbours of an exact tie. Which of the two the runner takes is
    checked against the runner itself in test_frame_paths_are_the_frames_the_runner_reads."""
    out = []
    for i in range(n):
        t = Fraction(str(round(start + (i + 0.5) * (end - start) / n, 6)))
        gaps = {k: abs(Fraction(k - 1, fps) - t) for k in range(1, int(end * fps) + 4)}
        best = min(gaps.values())
        out.append({k for k, gap in gaps.items() if gap == best})
    return out


@pytest.mark.parametrize("frames_root", [None, "/data/EPIC-KITCHENS"])
def test_tsv_reads_back_field_by_field(crafted, tmp_path, frames_root):
    out = tmp_path / "out"
    export_benchmark(str(crafted), "vlmevalkit", out, options=ExportOptions(frames_root=frames_root, n_frames=8))
    table = _read_tsv(out, "crafted")
    records = _jsonl(crafted)
    media = "image_path" if frames_root else "video_path"
    assert list(table.columns) == ["index", "question", "A", "B", "C", "D", "E", "answer", "category", media,
                                   "video", "start", "end", "id"]
    assert len(table) == len(records)
    for position, (row, r) in enumerate(zip(table.to_dict("records"), records)):
        assert row["index"] == position and row["id"] == r["id"] and row["question"] == r["question"]
        present = [row[c] for c in "ABCDE" if not pd.isna(row[c])]
        assert present == r["options"]  # in order, and the missing letters read as NaN (VLMEvalKit skips them)
        assert all(pd.isna(row[c]) for c in "ABCDE"[len(r["options"]):])
        if r["answer_letter"] is None:
            assert pd.isna(row["answer"])
        else:
            assert row["answer"] == r["answer_letter"] == "ABCDE"[r["answer_index"]]
        assert (row["video"], row["start"], row["end"], row["category"]) == (r["video_id"], r["start"], r["end"],
                                                                             "crafted")
        participant = r["video_id"].split("_")[0]
        if frames_root is None:
            assert row["video_path"] == f"{participant}/videos/{r['video_id']}.MP4"
        else:
            paths = [str(x) for x in eval(row["image_path"])]  # VLMEvalKit's toliststr
            folder = f"{frames_root}/{participant}/rgb_frames/{r['video_id']}/frame_"
            assert len(paths) == 8 and all(p.startswith(folder) and p.endswith(".jpg") for p in paths)
            for path, nearest in zip(paths, _nearest_frames(r["start"], r["end"], 8)):
                assert int(path[len(folder):-4]) in nearest


def test_frame_paths_are_the_frames_the_runner_reads(crafted, tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    from actbench.model_adapters.video import FrameSampler

    root = tmp_path / "frames"
    bench = load_benchmark(crafted)
    for video in {q.video_id for q in bench.questions}:
        folder = root / video.split("_")[0] / "rgb_frames" / video
        folder.mkdir(parents=True)
        last = max(q.end for q in bench.questions if q.video_id == video)
        for k in range(1, int(last * 50) + 3):
            # Each frame's colour encodes its number (PNG bytes: lossless; Pillow reads by content).
            Image.new("RGB", (4, 4), (k % 256, k // 256, 7)).save(folder / f"frame_{k:010d}.jpg", format="PNG")
    out = tmp_path / "out"
    export_benchmark(str(crafted), "vlmevalkit", out, options=ExportOptions(frames_root=str(root), n_frames=8))
    table = _read_tsv(out, "crafted")
    sampler = FrameSampler(n_frames=8, size=None, layout="rgb_frames", cache=None)
    for q, cell in zip(bench.questions, table["image_path"]):
        result = sampler.frames_for(root, q)
        assert result.ok, result.error
        seen = [int(f[0, 0, 0]) + 256 * int(f[0, 0, 1]) for f in result.frames]
        listed = [Path(p) for p in ast.literal_eval(cell)]
        assert all(p.is_file() for p in listed)
        assert [int(p.stem.split("_")[1]) for p in listed] == seen


# VLMEvalKit's exact matching for letter answers, transcribed from open-compass/VLMEvalKit:
# vlmeval/utils/matching_util.py (can_infer_option, can_infer_text, can_infer; commit 18fc37a5) and
# vlmeval/dataset/utils/multiple_choice.py (build_choices, extract_answer_from_item with model=None,
# eval_vanilla, report_acc's Overall = mean of hit).
def _can_infer_option(answer, choices):
    if "Failed to obtain answer via API" in answer:
        return False
    for err in ["Sorry, I can't help with images of people yet.", "I can't process this file.",
                "I'm sorry, but without the image provided", "Cannot determine the answer"]:
        if err in answer:
            return "Z"

    def count_choice(splits, choices, prefix="", suffix=""):
        return sum(prefix + c + suffix in splits for c in choices)

    answer_mod = copy.copy(answer)
    for c in ".()[],:;!*#{}":
        answer_mod = answer_mod.replace(c, " ")
    splits = [x.strip() for x in answer_mod.split()]
    count = count_choice(splits, choices)
    if count == 1:
        for ch in choices:
            if "A" in splits and len(splits) > 3 and os.environ.get("VERBOSE", 0):  # noqa: PLW1508 (as VLMEvalKit writes it)
                return False
            if ch in splits:
                return ch
    elif count == 0 and count_choice(splits, {"Z", ""}) == 1:
        return "Z"
    return False


def _can_infer_text(answer, choices):
    answer = answer.lower()
    choices = {k: str(v).lower() for k, v in choices.items()}
    cands = [k for k in choices if choices[k] in answer]
    return cands[0] if len(cands) == 1 else False


def _can_infer(answer, choices):
    answer = str(answer)
    return _can_infer_option(answer, choices) or _can_infer_text(answer, choices)


def vlmevalkit_accuracy(table, predictions: dict[int, str]) -> float:
    hits = []
    for item in table.to_dict("records"):
        choices = {ch: item[ch] for ch in string.ascii_uppercase if ch in item and not pd.isna(item[ch])}
        prediction = str(predictions[item["index"]]).strip()
        opt = (_can_infer(prediction, choices) if len(prediction) < 10 else None) or "Z"  # exact_matching: no judge
        hits.append(1 if opt == item["answer"] else 0)
    return 100.0 * float(np.mean(hits))


def _fixed_answers(bench):
    """Per question: a model's raw text and the answer actbench records for it (same answers, two forms)."""
    raws, answers = {}, {}
    for i, q in enumerate(bench.questions):
        right = q.answer_letter or "A"
        wrong = q.letters[(q.letters.index(right) - 1) % len(q.letters)]
        kind = i % 6
        if kind == 5:  # unparseable: actbench records a parse failure, VLMEvalKit falls back to Z
            raws[i], answers[q.id] = "I cannot tell.", Answer(q.id, None, "parse_fail", "I cannot tell.", 0.0)
            continue
        letter = [right, wrong, right, right, wrong][kind]
        raw = [letter, f"({letter})", f"{letter}.", f"Answer: {letter}", f"{letter}"][kind]
        raws[i], answers[q.id] = raw, Answer(q.id, letter, "ok", raw, 0.0)
    return raws, answers


@pytest.mark.parametrize("which", ["crafted", "real"])
def test_vlmevalkit_scoring_equals_actbench_accuracy(which, request, tmp_path):
    bench_dir = request.getfixturevalue(which)
    out = tmp_path / "out"
    export_benchmark(str(bench_dir), "vlmevalkit", out)
    bench = load_benchmark(bench_dir)
    table = _read_tsv(out, bench.name)
    raws, answers = _fixed_answers(bench)
    expected = score_mqa(bench.questions, answers, seed=0)["accuracy"]
    assert 0 < expected < 100
    assert vlmevalkit_accuracy(table, raws) == pytest.approx(expected, abs=1e-6)


def test_sidecar_records_the_benchmark_hash_and_the_frames(crafted, tmp_path):
    out = tmp_path / "out"
    export_benchmark(str(crafted), "vlmevalkit", out, options=ExportOptions(frames_root="frames", n_frames=16))
    bench = load_benchmark(crafted)
    side = json.loads((out / "crafted.actbench.json").read_text())
    assert side["benchmark"]["questions_sha256"] == bench.manifest.questions_sha256
    assert side["benchmark"]["manifest_sha256"] == bench.manifest_sha256
    assert (side["benchmark"]["source"], side["benchmark"]["k"], side["benchmark"]["seed"]) == ("prior", 5, 3)
    assert side["tsv"]["sha256"] == hashlib.sha256((out / "crafted.tsv").read_bytes()).hexdigest()
    assert (side["media"]["layout"], side["media"]["n_frames"], side["media"]["fps"]) == ("rgb_frames", 16, 50.0)
    assert side["licence"]["id"] == "cc-by-nc-4.0"
    assert len(ast.literal_eval(_read_tsv(out, "crafted").loc[4, "image_path"])) == 16


def test_na_strings_match_pandas_and_such_options_are_refused(tmp_path):
    from pandas._libs.parsers import STR_NA_VALUES

    assert PANDAS_NA_STRINGS == set(STR_NA_VALUES)
    bench = tmp_path / "na"
    write_benchmark(bench, _manifest(name="na"), [_q("P01_11_0", "P01_11", 0.0, 1.0, ["take plate", "NA"], 0)])
    with pytest.raises(ActbenchError, match=r"\(question P01_11_0\): field 'options\[1\]': expected text that "
                                            r"pandas / VLMEvalKit do not read as a missing value, found 'NA'"):
        export_benchmark(str(bench), "vlmevalkit", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- Hugging Face datasets ----------------------------------------------------------------------------------

def _check_rows(rows: list[dict], records: list[dict]) -> None:
    assert len(rows) == len(records)
    for row, r in zip(rows, records):
        standard = {k: r[k] for k in ("id", "video_id", "start", "end", "question", "options", "answer_index",
                                      "answer_letter", "option_classes", "source_ranks")}
        extra = {k: v for k, v in r.items() if k not in standard}
        assert {k: row[k] for k in standard} == standard
        assert json.loads(row["extra"]) == extra


def _front_matter(card: str) -> dict:
    yaml = pytest.importorskip("yaml")
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.mark.parametrize("which", ["crafted", "real"])
def test_hf_parquet_and_card_read_back(which, request, tmp_path):
    bench_dir = request.getfixturevalue(which)
    out = tmp_path / "hf"
    export_benchmark(str(bench_dir), "hf", out)
    assert sorted(_files(out)) == ["README.md", "data/test-00000-of-00001.parquet"]
    table = pq.read_table(out / "data/test-00000-of-00001.parquet")
    assert table.schema.field("options").type == pa.list_(pa.string())
    assert table.schema.field("answer_index").type == pa.int64()
    _check_rows(table.to_pylist(), _jsonl(bench_dir))

    bench = load_benchmark(bench_dir)
    card = (out / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["license"] == "cc-by-nc-4.0"
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "test", "path": "data/test-00000-of-00001.parquet"}]}]
    assert meta["pretty_name"] == bench.name
    m = bench.manifest
    for needed in (m.questions_sha256, bench.manifest_sha256, f"| source | `{m.source}` |", f"| K (options) | {m.k} |",
                   f"| seed | {m.seed} |", "Creative Commons Attribution-NonCommercial 4.0 International License",
                   "https://creativecommons.org/licenses/by-nc/4.0/", "indicate if changes were made",
                   "https://github.com/epic-kitchens/epic-kitchens-100-annotations", *(i.sha256 for i in m.inputs)):
        assert needed in card, needed
    provenance = json.loads(table.schema.metadata[b"actbench"])
    assert provenance["benchmark"]["questions_sha256"] == m.questions_sha256


def test_hf_folder_loads_with_datasets(crafted, tmp_path):
    datasets = pytest.importorskip("datasets")  # optional: not a dependency of actbench
    out = tmp_path / "hf"
    export_benchmark(str(crafted), "hf", out)
    loaded = datasets.load_dataset(str(out), split="test")
    _check_rows(list(loaded), _jsonl(crafted))


@pytest.mark.parametrize("dataset, licence, text", [
    ("ego4d-goalstep", "mit", "MIT License"),
    ("some-new-dataset", "unknown", "does not know the licence of the 'some-new-dataset' annotations"),
])
def test_card_states_each_dataset_licence(tmp_path, dataset, licence, text):
    bench = tmp_path / "b"
    write_benchmark(bench, _manifest(dataset=dataset, name="b"), CRAFTED[:2])
    export_benchmark(str(bench), "hf", tmp_path / "hf")
    card = (tmp_path / "hf" / "README.md").read_text()
    assert _front_matter(card)["license"] == licence
    assert text in card


# -- both formats: determinism, atomicity, the CLI ----------------------------------------------------------

@pytest.mark.parametrize("fmt, frames_root", [("vlmevalkit", None), ("vlmevalkit", "frames"), ("hf", None)])
def test_re_export_is_byte_identical(crafted, tmp_path, fmt, frames_root):
    options = ExportOptions(frames_root=frames_root)
    export_benchmark(str(crafted), fmt, tmp_path / "one", options=options)
    export_benchmark(str(crafted), fmt, tmp_path / "two", options=options)
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert one and one == two


@pytest.mark.parametrize("fmt, target", [("vlmevalkit", "actbench.exporters.vlmevalkit.dumps_json"),
                                         ("hf", "actbench.exporters.hf_dataset.card")])
def test_a_failed_export_leaves_nothing(crafted, tmp_path, monkeypatch, fmt, target):
    # The failure comes after the first file (TSV / parquet) is already written into the staging folder.
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(target, fail)
    parent = tmp_path / "exports"
    parent.mkdir()
    with pytest.raises(OSError, match="disk full"):
        export_benchmark(str(crafted), fmt, parent / "out")
    assert list(parent.iterdir()) == []


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_exports_a_built_card_by_name(crafted, tmp_path):
    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    crafted.rename(results / "benchmarks" / "crafted")
    result = invoke("export", "crafted", "--format", "vlmevalkit", "--out", tmp_path / "v", "--results", results)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"exported 6 questions of crafted as vlmevalkit to {tmp_path / 'v'}: "
                                     "crafted.tsv, crafted.actbench.json")


@pytest.mark.parametrize("args, message", [
    (["{bench}", "--format", "vlmevalkt", "--out", "{tmp}/out"],
     "unknown export format 'vlmevalkt'; did you mean 'vlmevalkit' or 'lmms-eval'?"),
    (["{tmp}/nothing", "--format", "hf", "--out", "{tmp}/out"],
     "nothing: not a benchmark directory (no manifest.json) nor a benchmark card name"),
    (["ek100-mqa-random", "--format", "hf", "--out", "{tmp}/out", "--results", "{tmp}/results"],
     "benchmark 'ek100-mqa-random' is not built yet"),
    (["{bench}", "--format", "hf", "--out", "{tmp}/full"],
     "full: exists and is not an empty directory; choose another --out (export never overwrites)"),
    (["{bench}", "--format", "hf", "--out", "{tmp}/out", "--frames-root", "frames"],
     "--frames-root: field 'format': expected a format that lists frames (lmms-eval, vlmevalkit), found hf"),
    (["{bench}", "--format", "vlmevalkit", "--out", "{tmp}/out", "--frames-root", "f", "--frames", "0"],
     "--frames: field 'frames': expected an integer >= 1, found 0"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(crafted, tmp_path, args, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = invoke("export", *[a.replace("{bench}", str(crafted)).replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actbench: error: ") and message in lines[0], lines
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_an_empty_out_folder_is_used(crafted, tmp_path):
    (tmp_path / "empty").mkdir()
    export_benchmark(str(crafted), "hf", tmp_path / "empty")
    assert sorted(_files(tmp_path / "empty")) == ["README.md", "data/test-00000-of-00001.parquet"]
