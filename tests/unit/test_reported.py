"""The published numbers under results/reported/: they load strictly, match the paper text, render apart."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from actbench.errors import ActbenchError
from actbench.reports.reported import (
    COLUMNS,
    REPORTED_DIR,
    SECTION_TITLE,
    load_reported,
    load_reported_dir,
    render_reported_markdown,
    reported_section,
)

PAPERS_DIR = REPORTED_DIR.parents[2] / "shared" / "papers"
HEADER = ",".join(COLUMNS)


@pytest.fixture(scope="module")
def llavaction():
    return load_reported(REPORTED_DIR / "llavaction.csv")


@pytest.fixture(scope="module")
def gad():
    return load_reported(REPORTED_DIR / "gad.csv")


def value(rows, **where):
    found = [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0].value


def test_files_load_with_the_expected_tables(llavaction, gad):
    def per_table(rows):
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.table] = counts.get(r.table, 0) + 1
        return counts

    assert per_table(llavaction) == {"Table 1": 15, "Table 2": 14, "Table 4": 9, "Table 5": 18, "Table 8": 12}
    assert per_table(gad) == {"Table 1": 48, "Table 3": 30, "Table 6": 40, "Table 7": 24, "Table 11": 9}
    assert {r.paper for r in llavaction} == {"llavaction"} and {r.paper for r in gad} == {"gad"}
    assert len(load_reported_dir()) == len(llavaction) + len(gad)


def test_llavaction_spot_checks(llavaction):
    assert value(llavaction, table="Table 1", model="GPT-4o (08-06)", benchmark="ek100-mqa-tim") == 52.2
    assert value(llavaction, table="Table 1", model="GPT-4o (08-06)", benchmark="ek100-mqa-random") == 87.6
    assert value(llavaction, table="Table 1", model="LLaVA-Video-7B", benchmark="ek100-mqa-tim") == 35.7
    assert value(llavaction, table="Table 1", model="LLaVA-OV-7B", benchmark="ek100-mqa-avion") == 33.6
    assert value(llavaction, table="Table 2", model="LLaVAction: LLaVA-Video-7B",
                 setting="LLaVAction fine-tuned; 8 frames") == 71.7
    assert value(llavaction, table="Table 2", model="LLaVA-Video-7B", setting="zero-shot; 16 frames") == 34.8
    assert value(llavaction, table="Table 4", model="TIM (Chalk et al., 2024)") == 56.4
    assert value(llavaction, table="Table 4", setting="validation set; w/ action label") == 58.3
    assert value(llavaction, table="Table 5", setting="trained model", model="LLaVAction-7B",
                 metric="tail_accuracy") == 27.0
    assert value(llavaction, table="Table 8", model="LLaVAction", setting="difficulty level 2") == 0.744
    # Table 8's sample counts add up to the EPIC-KITCHENS-100 validation clips (9668).
    assert sum(r.value for r in llavaction if r.metric == "n_questions") == 9668


def test_gpt4o_16_frame_cells_are_left_out_and_said_so(llavaction):
    gpt = [r for r in llavaction if r.table == "Table 2" and r.model.startswith("GPT-4o")]
    assert {r.setting for r in gpt} == {"zero-shot; 8 frames"}
    assert all("N/A" in r.note for r in gpt)


def test_gad_spot_checks(gad):
    disc1b = "Disc (Llama3.2-1B-Instruct)"
    assert value(gad, table="Table 1", model=disc1b, benchmark="oad-ek100", metric="segment_f1@0.1") == 23.2
    assert value(gad, table="Table 1", model="Gen (Qwen2.5-0.5B-Instruct)", benchmark="oad-ego4d", metric="fps") == 12.3
    assert value(gad, table="Table 3", model="Gen_desync", benchmark="oad-crosstask", metric="point_f1@1s") == 34.1
    assert value(gad, table="Table 6", model="GAD (Llama3.2-1B-Instruct)", benchmark="oad-thumos",
                 metric="segment_f1@0.1") == 58.1
    assert value(gad, table="Table 7", model="GAD (Llama3-8B-Instruct)", benchmark="coin-step") == 67.3
    assert value(gad, table="Table 11", model="GAD", benchmark="oad-ego4d") == 1.49
    # The paper repeats Disc (Llama3.2-1B) across tables: the transcriptions must agree.
    for bench in ("oad-crosstask", "oad-ek100", "oad-ego4d"):
        for metric in ("segment_f1@0.1", "point_f1@1s"):
            t1 = value(gad, table="Table 1", model=disc1b, benchmark=bench, metric=metric)
            assert value(gad, table="Table 3", model="Disc", benchmark=bench, metric=metric) == t1
            assert value(gad, table="Table 6", model=disc1b, benchmark=bench, metric=metric) == t1


@pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason="paper text not beside the checkout")
@pytest.mark.parametrize("name, paper", [("llavaction.csv", "llavaction.txt"),
                                         ("gad.csv", "gad-generative-vs-discriminative.txt")])
def test_every_value_is_printed_in_the_paper(name, paper):
    numbers = set(re.findall(r"\d+(?:\.\d+)?", (PAPERS_DIR / paper).read_text(encoding="utf-8")))
    missing = [r.source for r in load_reported(REPORTED_DIR / name) if r.value_text not in numbers]
    assert not missing


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = "llavaction,Table 1,ek100-mqa-tim,zero-shot; 8 frames,GPT-4o (08-06),accuracy,52.2,%,"


@pytest.mark.parametrize("lines, message", [
    ((HEADER, GOOD, "llavaction,Table 2,ek100-mqa-tim,zero-shot; 16 frames,GPT-4o,accuracy,N/A,%,"),
     "bad.csv:3: field 'value': expected a number as printed in the paper, e.g. 52.2 (no unit, no N/A), found N/A"),
    ((HEADER, "llavaction,,ek100-mqa-tim,zero-shot,GPT-4o,accuracy,52.2,%,"),
     "bad.csv:2: field 'table': expected a non-empty text, found ''"),
    ((HEADER, "llavaction,Tab. 1,ek100-mqa-tim,zero-shot,GPT-4o,accuracy,52.2,%,"),
     "bad.csv:2: field 'table': expected the source table as 'Table N'"),
    ((HEADER + ",extra", GOOD + ",x"), "bad.csv:1: field 'header': expected " + HEADER),
    ((HEADER, GOOD + ",surplus"), "bad.csv:2: field 'row': expected 9 cells"),
    ((HEADER, GOOD, "", GOOD), "bad.csv:4: field 'row': expected one number per paper/table"),
    (("",), "bad.csv:1: field 'header'"),
])
def test_a_bad_file_gives_a_one_line_error(tmp_path, lines, message):
    with pytest.raises(ActbenchError) as caught:
        load_reported(write(tmp_path, *lines))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(str(tmp_path)) and message in text


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(ActbenchError, match="cannot read reported numbers"):
        load_reported(tmp_path / "nope.csv")
    assert load_reported_dir(tmp_path / "nope") == [] and reported_section(tmp_path / "nope") == ""


def test_render_is_deterministic_grouped_and_separate(llavaction, gad):
    rows = llavaction + gad
    text = render_reported_markdown(rows)
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert render_reported_markdown(shuffled) == text == reported_section()
    lines = text.splitlines()
    assert lines[0] == f"## {SECTION_TITLE}"
    assert not any(line.startswith("# ") for line in lines)  # a section to append, not a document
    headings = [line for line in lines if line.startswith("###")]
    first_gad = next(i for i, h in enumerate(headings) if h.startswith("### GAD"))
    assert headings[0].startswith("### LLaVAction") and headings.index("#### Table 8") < first_gad
    assert [h for h in headings if h.startswith("####")] == [
        "#### Table 1", "#### Table 2", "#### Table 4", "#### Table 5", "#### Table 8",
        "#### Table 1", "#### Table 3", "#### Table 6", "#### Table 7", "#### Table 11"]
    assert "| ek100-mqa-tim | zero-shot; 8 frames | GPT-4o (08-06) | accuracy | 52.2 | % |" in text
    assert "| 0.405 | fraction |" in text  # the value as printed, not reformatted
    assert sum(line.startswith("| ") and not line.startswith("| benchmark") for line in lines) == len(rows)
    assert render_reported_markdown([]) == ""
