"""Animal Kingdom: the official frame lists and class list, multi-label MQA building, the several-letter
parser, Jaccard accuracy, the baselines, the prompt and the leaderboard.

The annotation files are written here in the exact released format (no real data is on this machine):
space-separated frame lists with the header ``original_vido_id video_id frame_id path labels type`` and
``df_action`` with the columns ``S/N, action_category, action, index, segment, count``. Expected
distractors are recomputed by a naive loop over the score table; Jaccard is checked by hand and against
``sklearn.metrics.jaccard_score(average="samples")``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from sklearn.metrics import jaccard_score
from typer.testing import CliRunner

from actbench.cli import app
from actbench.datasets.animal_kingdom import ANIMALS, AnimalKingdom
from actbench.datasets.check import check_dataset
from actbench.datasets.official_files import official_dataset
from actbench.errors import ActbenchError
from actbench.evaluators.mqa_accuracy import jaccard, score_mqa
from actbench.model_adapters.baselines import AlwaysA, Oracle, RandomAdapter
from actbench.model_adapters.multi_answer import (
    answer_fits,
    check_key,
    key_letters,
    parse_answers,
    parse_reply,
    refuse_multi_label,
)
from actbench.mqa_builder.benchmark_dir import question_to_json, questions_jsonl
from actbench.mqa_builder.multi_label import multi_label_questions
from actbench.mqa_builder.ranking import SourceContext, source_scores
from actbench.prompts import (
    ANSWER_INSTRUCTION,
    MULTI_ANSWER_INSTRUCTION,
    format_mqa,
    prompt_for,
)
from actbench.records import Answer, Question
from actbench.reports.leaderboard import Row, render_csv, render_markdown

runner = CliRunner()
HEADER = "original_vido_id video_id frame_id path labels type"
# A part of the release's class list (index -> action); the real one has 140 rows.
CLASSES = {1: ("Aggressive", "Attacking"), 2: ("General", "Attending"), 3: ("Communication", "Barking"),
           8: ("Feeding", "Biting"), 14: ("Aggressive", "Chasing"), 40: ("Feeding", "Eating"),
           68: ("General", "Keeping still"), 100: ("Movement", "Running"), 102: ("Sensing", "Sensing"),
           133: ("Movement", "Walking")}
# clip -> (integer id, frame labels in file order); every frame is one line, as in the release.
VAL = {"AAACXZTV": (145, ["2,40", "2,40", "2,40"]),
       "ABCDEFGH": (146, ["102,1,8", "102,1,8", "102,1,8,14"]),
       "QWERTYUI": (147, ["133"]),
       "ZZZZZZZZ": (148, ["1,2,3,8,14", "1,2,3,8,14"])}
TRAIN = {"TRAINAAA": (1, ["133,100"] * 4), "TRAINBBB": (2, ["40"] * 2), "TRAINCCC": (3, ["40,68"])}


def frame_list(clips: dict, split: str, header: str = HEADER) -> str:
    lines = [header]
    for clip, (number, frames) in clips.items():
        for f, labels in enumerate(frames, start=1):
            lines.append(f"{clip} {number} {f} {clip}/{clip}_t{f:06d}.jpg {labels}"
                         + (f" {split}" if header == HEADER else ""))
    return "\n".join(lines) + "\n"


def taxonomy_rows() -> list[list]:
    return [["S/N", "action_category", "action", "index", "segment", "count"]] + [
        [n, category, action, index, "head", 100 - n] for n, (index, (category, action)) in
        enumerate(sorted(CLASSES.items()), start=1)]


def write_ak(data, val=VAL, train=TRAIN, taxonomy="csv"):
    folder = data / "animal-kingdom" / "action_recognition" / "annotation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "val.csv").write_text(frame_list(val, "test"))
    if train is not None:
        (folder / "train.csv").write_text(frame_list(train, "train"))
    if taxonomy == "csv":
        (folder / "df_action.csv").write_text("\n".join(",".join(map(str, r)) for r in taxonomy_rows()) + "\n")
    return folder


@pytest.fixture
def ak(tmp_path):
    write_ak(tmp_path)
    return tmp_path


# ---- the dataset ------------------------------------------------------------------------------------


def test_clips_are_multi_label_segments_with_every_label_of_their_frames(ak):
    ds = AnimalKingdom.from_data_dir(ak)
    segments = ds.split("val")
    assert [s.narration_id for s in segments] == list(VAL)
    first, second, third = segments[:3]
    assert (first.video_id, first.start, first.end, first.labels, first.class_key) == \
        ("AAACXZTV", 0.0, round(3 / 24, 6), ("2", "40"), "2")
    assert second.labels == ("102", "1", "8", "14")  # the last frame adds Chasing: the union, in file order
    assert third.labels == ("133",) and third.end == round(1 / 24, 6) and third.participant_id == ""
    assert ds.action_space.keys == tuple(sorted(str(k) for k in CLASSES))
    assert dict(zip(ds.action_space.keys, ds.action_space.labels))["68"] == "keeping still"
    assert ds.multi_label and ds.question == ANIMALS and ds.default_split == "val" and ds.train_split == "train"
    assert check_dataset("animal-kingdom", ak).segments == {"val": 4, "train": 3}


def test_the_charades_header_without_type_is_read_the_same(ak):
    folder = ak / "animal-kingdom" / "action_recognition" / "annotation"
    (folder / "val.csv").write_text(frame_list(VAL, "test", header=HEADER.rsplit(" ", 1)[0]))
    assert [s.labels for s in AnimalKingdom.from_data_dir(ak).split("val")][:2] == [("2", "40"), ("102", "1", "8", "14")]


def test_the_official_xlsx_class_list_is_read_with_openpyxl(tmp_path, monkeypatch):
    openpyxl = pytest.importorskip("openpyxl")
    folder = write_ak(tmp_path, taxonomy=None)
    book = openpyxl.Workbook()
    book.active.title = "AR_count"
    for row in taxonomy_rows():
        book.active.append(row)
    book.save(folder / "df_action.xlsx")
    ds = AnimalKingdom.from_data_dir(tmp_path)
    assert ds.taxonomy_files() == [folder / "df_action.xlsx"]
    assert ds.taxonomy() == {str(k): action.lower() for k, (_, action) in CLASSES.items()}
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as on a machine without it
    with pytest.raises(ActbenchError) as error:
        AnimalKingdom.from_data_dir(tmp_path).taxonomy()
    assert str(error.value) == (f"{folder / 'df_action.xlsx'}: reading an .xlsx needs openpyxl (pip install openpyxl), "
                                "or save its sheet as df_action.csv beside it")


def test_fetch_explains_the_request_form(tmp_path):
    table = official_dataset("animal-kingdom")
    assert table.files == () and "request" in table.manual and "action_recognition/annotation" in table.manual
    result = runner.invoke(app, ["data", "fetch", "animal-kingdom", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "sutdcv.github.io/Animal-Kingdom" in result.output


def _error(data) -> str:
    with pytest.raises(ActbenchError) as error:
        ds = AnimalKingdom.from_data_dir(data)
        ds.split("val")
        ds.action_space  # noqa: B018 - the label space checks every label against the class list
    return str(error.value)


@pytest.mark.parametrize("line, message", [
    ("AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 2,40", ("{f}:2: field 'line': expected 6 space-separated fields "
     "(original_vido_id video_id frame_id path labels type), found AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 2,40")),
    ("AAACXZTV 145 0 AAACXZTV/AAACXZTV_t000000.jpg 2,40 test",
     "{f}:2: field 'frame_id': expected a frame number counting from 1, found 0"),
    ("AAACXZTV x 1 AAACXZTV/AAACXZTV_t000001.jpg 2,40 test",
     "{f}:2: field 'video_id': expected the clip's integer index, found x"),
    ("AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 2,eat test",
     "{f}:2: field 'labels': expected comma-separated class indices (e.g. 2,40), found 2,eat"),
    ("AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg \"\" test",
     "{f}:2: field 'labels': expected at least one action class for clip AAACXZTV, found none in any of its frames"),
    ("AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 2,41 test",
     "{f}: field 'AAACXZTV.label': expected a class of the animal-kingdom taxonomy, found 41"),
])
def test_frame_list_errors_name_the_line_the_field_and_what_was_found(ak, line, message):
    path = ak / "animal-kingdom" / "action_recognition" / "annotation" / "val.csv"
    path.write_text(f"{HEADER}\n{line}\n")
    assert _error(ak) == message.format(f=path)


def test_other_file_errors(ak):
    folder = ak / "animal-kingdom" / "action_recognition" / "annotation"
    val = folder / "val.csv"
    val.write_text("clip_id clip_number frame_number clip_path action_labels\n")
    assert _error(ak) == (f"{val}:1: field 'header': expected 'original_vido_id video_id frame_id path labels type' "
                          "(space-separated), found clip_id clip_number frame_number clip_path action_labels")
    val.write_text(f"{HEADER}\nAAACXZTV 145 1 a.jpg 2 test\nAAACXZTV 146 2 b.jpg 2 test\n")
    assert _error(ak) == f"{val}:3: field 'video_id': expected 145 for every frame of clip AAACXZTV (line 2), found 146"
    val.write_text(frame_list(VAL, "test"))
    csv_path = folder / "df_action.csv"
    csv_path.write_text("S/N,action_category,action,segment,count\n1,Feeding,Eating,head,3\n")
    assert _error(ak) == (f"{csv_path}: field 'header': expected a column 'index' (the columns S/N, action_category, "
                          "action, index, segment, count), found ['S/N', 'action_category', 'action', 'segment', "
                          "'count']")
    csv_path.write_text("S/N,action_category,action,index\n1,Feeding,Eating,40\n2,Feeding,Biting,40\n")
    assert _error(ak) == f"{csv_path}:3: field 'index': expected each class index once, found 40 twice"
    csv_path.unlink()
    message = _error(ak)
    assert message.startswith(f"{folder / 'df_action.xlsx'}: file not found; expected the animal-kingdom annotations "
                              "of the val split there (the dataset is shared on request: ")


# ---- building -------------------------------------------------------------------------------------


def scores_table(ds, clips) -> np.ndarray:
    """Made-up specialist scores: a fixed pseudo-random table, with one tie to exercise the tie rule."""
    table = np.random.default_rng(7).random((len(clips), len(ds.action_space))).astype(np.float32)
    table[0, ds.action_space.index["14"]] = table[0, ds.action_space.index["133"]] = 2.0  # a tie at the top
    return table


def write_scores(path, ds, clips) -> np.ndarray:
    table = scores_table(ds, clips)
    np.savez(path, narration_ids=np.array([c.narration_id for c in clips]), scores=table,
             classes=np.array(ds.action_space.keys))
    return table


def naive_question(clip, row: np.ndarray, keys: tuple[str, ...], k: int) -> tuple[list[str], list[str], dict]:
    """(labels, distractors, rank of every class) by a plain sort: score descending, ties by class key order."""
    order = sorted(range(len(keys)), key=lambda c: (-row[c], c))
    rank = {keys[c]: r for r, c in enumerate(order, start=1)}
    wanted = k - len(clip.labels) if len(clip.labels) < k else 1
    return list(clip.labels), [keys[c] for c in order if keys[c] not in clip.labels][:wanted], rank


def test_questions_hold_every_label_and_the_top_ranked_other_classes(ak, tmp_path):
    ds = AnimalKingdom.from_data_dir(ak)
    clips = ds.split("val")
    predictions = tmp_path / "videomae.npz"
    table = write_scores(predictions, ds, clips)
    context = SourceContext(ds, "val", clips, predictions, 0)
    scores, origin = source_scores("scores", context)
    records, counts = multi_label_questions(clips, scores, ds.action_space, k=5, seed=0, salt="scores",
                                            stem=ds.question, origin=origin)
    label = dict(zip(ds.action_space.keys, ds.action_space.labels))
    for record, clip, row in zip(records, clips, table):
        labels, distractors, rank = naive_question(clip, row, ds.action_space.keys, 5)
        assert sorted(record["option_classes"]) == sorted(labels + distractors)
        assert [record["option_classes"][p] for p in record["answer_indices"]] == \
            [c for c in record["option_classes"] if c in labels]
        assert record["answer_letters"] == "".join("ABCDEFG"[p] for p in record["answer_indices"])
        assert (record["answer_index"], record["answer_letter"]) == (record["answer_indices"][0],
                                                                     record["answer_letters"][0])
        assert record["options"] == [label[c] for c in record["option_classes"]]
        assert record["source_ranks"] == [rank[c] for c in record["option_classes"]]
        assert (record["id"], record["start"], record["end"], record["question"]) == \
            (clip.narration_id, 0.0, clip.end, ANIMALS)
    # Hand-checked: 2 labels + 3 distractors; 5 labels + 1 distractor (6 options, letters A-F).
    assert [len(r["options"]) for r in records] == [5, 5, 5, 6]
    assert len(records[3]["answer_indices"]) == 5 and records[3]["answer_letters"][-1] <= "F"
    assert counts["labels_per_question"] == {"1": 1, "2": 1, "4": 1, "5": 1}
    assert counts["options_per_question"] == {"5": 3, "6": 1}
    assert sum(counts["answer_letters"].values()) == 2 + 4 + 1 + 5


def test_the_tie_goes_to_the_lower_class_key_and_a_rebuild_is_byte_identical(ak, tmp_path):
    ds = AnimalKingdom.from_data_dir(ak)
    clips = ds.split("val")
    table = scores_table(ds, clips)

    def build(seed, salt="scores"):
        records, _ = multi_label_questions(clips, table, ds.action_space, k=5, seed=seed, salt=salt, stem="?")
        return records

    first = build(0)
    ranks = dict(zip(first[0]["option_classes"], first[0]["source_ranks"]))
    assert (ranks["133"], ranks["14"]) == (1, 2)  # tied: the lower class index ("133" sorts before "14") first
    assert questions_jsonl(first) == questions_jsonl(build(0))
    other = build(1)
    assert [sorted(r["option_classes"]) for r in other] == [sorted(r["option_classes"]) for r in first]
    assert [r["option_classes"] for r in other] != [r["option_classes"] for r in first]  # another placement
    assert [r["option_classes"] for r in build(0, "random")] != [r["option_classes"] for r in first]


def test_annotation_only_sources_build_multi_label_questions(ak):
    ds = AnimalKingdom.from_data_dir(ak)
    clips = ds.split("val")
    for source in ("random", "temporal", "prior"):
        scores, _ = source_scores(source, SourceContext(ds, "val", clips, None, 0))
        records, _ = multi_label_questions(clips, scores, ds.action_space, k=4, seed=0, salt=source, stem="?")
        for record, clip in zip(records, clips):
            correct = [record["option_classes"][p] for p in record["answer_indices"]]
            assert sorted(correct) == sorted(clip.labels)
            assert len(record["options"]) == (4 if len(clip.labels) < 4 else len(clip.labels) + 1)
            assert len(set(record["option_classes"])) == len(record["options"])


def test_two_stage_and_narration_options_are_refused(ak):
    ds = AnimalKingdom.from_data_dir(ak)
    clips = ds.split("val")
    table = scores_table(ds, clips)
    with pytest.raises(ActbenchError, match="field 'two_stage': expected off for a multi-label dataset"):
        multi_label_questions(clips, table, ds.action_space, k=5, seed=0, salt="s", stem="?", two_stage=True)
    with pytest.raises(ActbenchError, match="field 'options': expected label for a multi-label dataset"):
        multi_label_questions(clips, table, ds.action_space, k=5, seed=0, salt="s", stem="?", options="narration")


# ---- the key, the prompt and the parser ------------------------------------------------------------


def question(key=(0, 2), n=5) -> Question:
    options = ("eating", "walking", "sitting", "running", "swimming")[:n]
    letters = "".join("ABCDE"[i] for i in key)
    return Question("q", "v", 0.0, 1.0, ANIMALS, options, key[0], letters[0], tuple(str(i) for i in range(n)),
                    (1,) * n, {"answer_indices": list(key), "answer_letters": letters})


def test_the_key_and_what_fits_it():
    q = question((0, 2))
    assert key_letters(q) == "AC" and answer_fits(q, "AC") and answer_fits(q, "B")
    assert not answer_fits(q, "CA") and not answer_fits(q, "AA") and not answer_fits(q, "AF") and not answer_fits(q, "")
    single = Question("s", "v", 0.0, 1.0, "?", ("a", "b"), 1, "B", ("0", "1"), (1, 2))
    assert key_letters(single) == "B" and answer_fits(single, "A") and not answer_fits(single, "AB")
    check_key(question_to_json(q), 5, "q.jsonl:1")
    with pytest.raises(ActbenchError) as error:
        check_key({**question_to_json(q), "answer_letters": "AB"}, 5, "q.jsonl:1")
    assert str(error.value) == "q.jsonl:1: field 'answer_letters': expected AC, found AB"
    with pytest.raises(ActbenchError) as error:
        check_key({**question_to_json(q), "answer_indices": [2, 0]}, 5, "q.jsonl:1")
    assert str(error.value) == ("q.jsonl:1: field 'answer_indices': expected a sorted list of distinct indices in "
                                "[0, 5), found [2, 0]")
    with pytest.raises(ActbenchError) as error:
        refuse_multi_label("smollm2-135m-blind", [single, q], "picks one letter by its logits")
    assert str(error.value) == ("model 'smollm2-135m-blind' picks one letter by its logits, so it cannot answer "
                                "multi-label questions (q has 2 correct options); use a generating mode")
    refuse_multi_label("smollm2-135m-blind", [single], "picks one letter by its logits")  # single-label: fine


def test_the_prompt_asks_for_every_letter_only_on_multi_label_questions():
    q = question()
    assert prompt_for(q, ANIMALS) == "\n".join([
        f"{ANIMALS} Here are the options of actions you can select:", "A. eating", "B. walking", "C. sitting",
        "D. running", "E. swimming", MULTI_ANSWER_INSTRUCTION])
    single = Question("s", "v", 0.0, 1.0, "?", ("a", "b"), 1, "B", ("0", "1"), (1, 2))
    assert prompt_for(single, "Stem?") == format_mqa("Stem?", ["a", "b"])
    assert prompt_for(single, "Stem?").endswith("\n" + ANSWER_INSTRUCTION)


@pytest.mark.parametrize("reply, letters, status, how", [
    ("A, C", "AC", "ok", "letter_list"),
    ("A and C", "AC", "ok", "letter_list"),
    ("(A) (C)", "AC", "ok", "letter_list"),
    ("[C], [A]", "AC", "ok", "letter_list"),
    ("A C", "AC", "ok", "letter_list"),
    ("C", "C", "ok", "letter_list"),
    ("**A**, **C**", "AC", "ok", "letter_list"),
    ("A, C\nThe bird eats while it sits.", "AC", "ok", "letter_list"),
    ("The answers are B, D.", "BD", "ok", "answer_is"),
    ("Answer: a, c", "AC", "ok", "answer_is"),
    ("The answers are A, B, and D.", "ABD", "ok", "answer_is"),
    ("I choose A and D", "AD", "ok", "answer_is"),
    ("Options B and E are correct.", "BE", "ok", "answer_is"),
    ("The answer is A and a bird flies away.", "A", "ok", "answer_is"),  # "a bird": the article ends the list
    ("The answers are C and I think D", "C", "ok", "answer_is"),  # so does the pronoun
    ("AC", "AC", "ok", "compact"),
    ("A. eating\nC. sitting", "AC", "ok", "letter_line"),
    ("eating, sitting", "AC", "ok", "option_text"),
    ("eating and sitting", "AC", "ok", "option_text"),
    ("I think B and D.", "BD", "ok", "lone_letter"),
    ("A and C, but not E", "AC", "ok", "lone_letter"),
    ("", None, "parse_fail", "empty"),
    ("A or C", None, "parse_fail", "alternatives"),
    ("A/C", None, "parse_fail", "alternatives"),
    ("Answer: A, C\nThe answer is B.", None, "parse_fail", "conflicting_answers"),
    ("The answers are A and Z", None, "parse_fail", "out_of_range"),
    ("A. walking", None, "parse_fail", "letter_text_conflict"),
    ("A. eating\nB. walking\nC. sitting\nD. running\nE. swimming", None, "parse_fail", "echoed_options"),
    ("A person is walking slowly", None, "parse_fail", "no_answer"),
    ("OK", None, "parse_fail", "no_answer"),
    ("I'm sorry, I can't tell from these frames.", None, "refused", "refusal"),
])
def test_parser_table(reply, letters, status, how):
    parsed = parse_answers(reply, ["eating", "walking", "sitting", "running", "swimming"])
    assert (parsed.letters, parsed.status, parsed.how) == (letters, status, how)
    assert parse_reply(reply, question()) == parsed and parsed.letter == letters


def test_single_label_questions_keep_the_one_letter_parser():
    single = Question("s", "v", 0.0, 1.0, "?", ("a cat", "a dog"), 1, "B", ("0", "1"), (1, 2))
    assert parse_reply("A, B", single).how == "several_letters"


# ---- scoring and the baselines --------------------------------------------------------------------


def test_jaccard_by_hand_and_against_sklearn():
    # Hand: {A,C} vs {A,B}: 1/3; {A} vs {A}: 1; {} (a parse failure) vs {B,C}: 0; {A,B,C,D} vs {D}: 1/4.
    chosen = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
    truth = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    assert jaccard(chosen, truth) == round(100 * (1 / 3 + 1 + 0 + 1 / 4) / 4, 6)
    rng = np.random.default_rng(3)
    truth = rng.random((300, 6)) < 0.3
    truth[np.arange(300), rng.integers(0, 6, 300)] = True  # every question has a correct option
    chosen = rng.random((300, 6)) < 0.4
    expected = 100 * jaccard_score(truth, chosen, average="samples", zero_division=0)
    assert jaccard(chosen, truth) == pytest.approx(expected, abs=1e-6)


def test_score_mqa_reports_exact_set_accuracy_and_jaccard():
    rng = np.random.default_rng(5)
    questions, answers, chosen, truth = [], {}, [], []
    for i in range(60):
        n = int(rng.integers(3, 7))
        key = sorted(rng.choice(n, size=int(rng.integers(1, n)), replace=False).tolist())
        q = Question(f"q{i}", "v", 0.0, 1.0, "?", tuple(f"o{j}" for j in range(n)), key[0], "ABCDEF"[key[0]],
                     tuple(str(j) for j in range(n)), (None,) * n,
                     {"answer_indices": key, "answer_letters": "".join("ABCDEF"[j] for j in key)})
        questions.append(q)
        picked = sorted(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False).tolist())
        if i % 10 == 3:
            answers[q.id] = Answer(q.id, None, "parse_fail", "?", 0.1)
            picked = []
        elif i % 10 == 7:
            picked = key  # some exactly right
            answers[q.id] = Answer(q.id, "".join("ABCDEF"[j] for j in picked), "ok", "", 0.1)
        elif i != 59:  # the last one is never answered: it counts as wrong, like an error
            answers[q.id] = Answer(q.id, "".join("ABCDEF"[j] for j in picked), "ok", "", 0.1)
        else:
            picked = []
        chosen.append(np.isin(np.arange(6), picked))
        truth.append(np.isin(np.arange(6), key))
    metrics = score_mqa(questions, answers, seed=0, resamples=100)
    exact = [answers.get(q.id) is not None and answers[q.id].answer == key_letters(q) for q in questions]
    assert metrics["correct"] == sum(exact) >= 6
    assert metrics["accuracy"] == round(100 * sum(exact) / 60, 6)
    assert metrics["jaccard"] == pytest.approx(100 * jaccard_score(np.array(truth), np.array(chosen),
                                                                   average="samples", zero_division=0), abs=1e-6)
    assert metrics["status_counts"]["parse_fail"] == 6 and metrics["status_counts"]["missing"] == 1
    single = [Question("s", "v", 0.0, 1.0, "?", ("a", "b"), 1, "B", ("0", "1"), (1, 2))]
    assert "jaccard" not in score_mqa(single, {"s": Answer("s", "B", "ok", "B", 0.1)}, seed=0, resamples=10)


def test_baselines_answer_sets():
    q = question((1, 3, 4))
    assert Oracle().choose(q) == ("BDE", "B, D, E") and AlwaysA().choose(q) == ("A", "A")
    picks = [RandomAdapter(seed).choose(q)[0] for seed in range(200)]
    assert all(answer_fits(q, p) for p in picks) and picks == [RandomAdapter(s).choose(q)[0] for s in range(200)]
    assert len(set(picks)) > 20 and {len(p) for p in picks} == {1, 2, 3, 4, 5}  # any non-empty subset
    single = Question("s", "v", 0.0, 1.0, "?", ("a", "b", "c"), 1, "B", ("0", "1", "2"), (1, 2, 3))
    assert Oracle().choose(single) == ("B", "B") and len(RandomAdapter(0).choose(single)[0]) == 1


# ---- the leaderboard ------------------------------------------------------------------------------


def row(model, accuracy, jaccard_value, benchmark="animal-kingdom-mqa-random"):
    return Row(benchmark, model, 10, accuracy, 0.0, 100.0, 0, 0, 0, 0.001, 0.0, f"runs/{model}", "", model, "sha",
               "{}", jaccard=jaccard_value)


def test_leaderboard_shows_the_jaccard_column_for_multi_label_benchmarks():
    rows = [row("oracle", 100.0, 100.0), row("always-a", 0.0, 31.5), row("random", 10.0, 25.0)]
    text = render_markdown(rows)
    assert "| rank | model | n | Jaccard | accuracy | 95% CI |" in text
    assert "| 2 | always-a | 10 | 31.50 | 0.00 | [0.00, 100.00] |" in text
    csv_text = render_csv(rows)
    assert csv_text.splitlines()[0].endswith(",jaccard") and csv_text.splitlines()[2].endswith(",31.50")
    plain = [row("oracle", 100.0, None, "ek100-mqa-random")]
    assert "Jaccard" not in render_markdown(plain) and "jaccard" not in render_csv(plain)


# ---- end to end through the CLI (needs the build.py hook and the runner's several-letter answers) ------


def test_build_run_and_report_a_multi_label_benchmark_through_the_cli(ak, tmp_path):
    ds = AnimalKingdom.from_data_dir(ak)
    predictions = tmp_path / "videomae.npz"
    table = write_scores(predictions, ds, ds.split("val"))
    bench = tmp_path / "bench"
    result = runner.invoke(app, ["build-mqa", "--dataset", "animal-kingdom", "--source", "scores", "--predictions",
                                 str(predictions), "--options", "label", "--out", str(bench), "--data-dir", str(ak)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (bench / "questions.jsonl").read_text().splitlines()]
    assert [len(r["answer_indices"]) for r in lines] == [2, 4, 1, 5]
    for line, clip, scores in zip(lines, ds.split("val"), table):  # the labels keep their own source ranks
        labels, distractors, rank = naive_question(clip, scores, ds.action_space.keys, 5)
        assert sorted(line["option_classes"]) == sorted(labels + distractors)
        assert line["source_ranks"] == [rank[c] for c in line["option_classes"]]
    rebuilt = tmp_path / "again"
    runner.invoke(app, ["build-mqa", "--dataset", "animal-kingdom", "--source", "scores", "--predictions",
                        str(predictions), "--options", "label", "--out", str(rebuilt), "--data-dir", str(ak)])
    assert (rebuilt / "questions.jsonl").read_bytes() == (bench / "questions.jsonl").read_bytes()
    metrics = {}
    for model in ("oracle", "always-a"):
        out = tmp_path / "results" / "runs" / "bench" / model
        result = runner.invoke(app, ["run", "--model", model, "--benchmark", str(bench), "--out", str(out)])
        assert result.exit_code == 0, result.output
        metrics[model] = json.loads((out / "metrics.json").read_text())
    assert (metrics["oracle"]["jaccard"], metrics["oracle"]["accuracy"]) == (100.0, 100.0)
    # always-a chooses {A}: Jaccard 1/|T| when A is correct, else 0; exactly right only when T = {A}.
    hand = [1 / len(r["answer_letters"]) if "A" in r["answer_letters"] else 0.0 for r in lines]
    assert metrics["always-a"]["jaccard"] == round(100 * sum(hand) / len(hand), 6)
    assert metrics["always-a"]["accuracy"] == round(100 * sum(r["answer_letters"] == "A" for r in lines) / 4, 6)
    result = runner.invoke(app, ["report", str(tmp_path / "results"), "--format", "md", "--format", "csv",
                                 "--benchmarks", str(tmp_path)])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "| Jaccard |" in board and "| 1 | oracle | 4 | 100.00 | 100.00 |" in board
    assert "### Error diversity" not in board  # one chosen class against one answer: not for several answers
