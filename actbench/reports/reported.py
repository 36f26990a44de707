"""Published numbers of the two papers, read strictly and shown apart from measured rows.

``results/reported/*.csv`` hold one row per number printed in a paper's table (LLaVAction, arXiv
2503.18712; GAD, arXiv 2603.02546), with its source table. They are reference points, never runs: the
leaderboard shows them in their own section, "Reported in the papers (not measured here)", grouped by
paper and table, and never ranks them with the rows it measured.

>>> rows = load_reported(REPORTED_DIR / "llavaction.csv")
>>> [r.value for r in rows if r.table == "Table 1" and r.model == "GPT-4o (08-06)"
...  and r.benchmark == "ek100-mqa-tim"]
[52.2]
>>> render_reported_markdown(rows).splitlines()[0]
'## Reported in the papers (not measured here)'
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from actbench.errors import ActbenchError, describe

REPORTED_DIR = Path(__file__).resolve().parents[2] / "results" / "reported"
COLUMNS = ("paper", "table", "benchmark", "setting", "model", "metric", "value", "unit", "note")
SECTION_TITLE = "Reported in the papers (not measured here)"
# Headings for the papers we transcribe; any other paper id is shown as written.
PAPERS = {
    "llavaction": "LLaVAction (Ye, Qi, Mathis, Mathis; arXiv 2503.18712)",
    "gad": "GAD: On Discriminative vs. Generative Classifiers (Pang, Chatterjee, Sener, Yao; arXiv 2603.02546)",
}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_TABLE = re.compile(r"Table ([1-9]\d*)")


class ReportedRowModel(BaseModel):
    """One CSV row as written; every column is required, only ``note`` may be empty."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    paper: str
    table: str
    benchmark: str
    setting: str
    model: str
    metric: str
    value: str
    unit: str
    note: str = ""

    @field_validator("paper", "table", "benchmark", "setting", "model", "metric", "unit")
    @classmethod
    def _non_empty(cls, text: str) -> str:
        if not text:
            raise ValueError("a non-empty text")
        return text

    @field_validator("table")
    @classmethod
    def _table_name(cls, text: str) -> str:
        if not _TABLE.fullmatch(text):
            raise ValueError("the source table as 'Table N' (N = the paper's table number)")
        return text

    @field_validator("value")
    @classmethod
    def _numeric(cls, text: str) -> str:
        if not _NUMBER.fullmatch(text):
            raise ValueError("a number as printed in the paper, e.g. 52.2 (no unit, no N/A)")
        return text


@dataclass(frozen=True)
class ReportedRow:
    """A published number: where it was printed, what it measures, its value as printed and as float."""

    paper: str
    table: str
    benchmark: str
    setting: str
    model: str
    metric: str
    value: float
    value_text: str  # exactly as printed (keeps "0.405" and "32.0")
    unit: str
    note: str
    source: str  # "file.csv:LINE", for messages and a stable order

    @property
    def table_number(self) -> int:
        return int(self.table.split()[1])


def _fail(where: str, error: ValidationError) -> ActbenchError:
    first = error.errors()[0]
    if first["type"] == "value_error":  # our validators: say what is expected in our own words
        expected = str(first.get("ctx", {}).get("error", first["msg"]))
        return ActbenchError.bad_value(where, ".".join(map(str, first["loc"])), expected, first.get("input") or "''")
    return ActbenchError.from_validation(where, error, "row")


def load_reported(path: Path) -> list[ReportedRow]:
    """The rows of one reported CSV, in file order; a problem is an :class:`ActbenchError` naming file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ActbenchError(f"{path}: cannot read reported numbers ({error.__class__.__name__})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise ActbenchError.bad_value(f"{path}:1", "header", ",".join(COLUMNS), ",".join(header or []) or "nothing")
    rows: list[ReportedRow] = []
    seen: dict[tuple[str, ...], str] = {}
    for cells in reader:
        where = f"{path}:{reader.line_num}"
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(COLUMNS):
            raise ActbenchError.bad_value(where, "row", f"{len(COLUMNS)} cells ({','.join(COLUMNS)})",
                                          f"{len(cells)} cells: {describe(','.join(cells))}")
        try:
            m = ReportedRowModel.model_validate(dict(zip(COLUMNS, cells)))
        except ValidationError as error:
            raise _fail(where, error) from None
        value = float(m.value)
        if not math.isfinite(value):  # unreachable with the pattern, kept as the invariant it guards
            raise ActbenchError.bad_value(where, "value", "a finite number", m.value)
        key = (m.paper, m.table, m.benchmark, m.setting, m.model, m.metric)
        if key in seen:
            raise ActbenchError.bad_value(where, "row", f"one number per paper/table/benchmark/setting/model/metric "
                                          f"(first given at {seen[key]})", ",".join(cells))
        seen[key] = where
        rows.append(ReportedRow(m.paper, m.table, m.benchmark, m.setting, m.model, m.metric, value, m.value,
                                m.unit, m.note, f"{path.name}:{reader.line_num}"))
    return rows


def load_reported_dir(directory: Path = REPORTED_DIR) -> list[ReportedRow]:
    """Every ``*.csv`` in ``directory`` (sorted by name); an empty list when the folder does not exist."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return [row for path in sorted(directory.glob("*.csv")) for row in load_reported(path)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _order(row: ReportedRow) -> tuple:
    file, _, line = row.source.rpartition(":")
    rank = list(PAPERS).index(row.paper) if row.paper in PAPERS else len(PAPERS)
    return (rank, row.paper, row.table_number, file, int(line) if line.isdigit() else 0)


def render_reported_markdown(rows: list[ReportedRow]) -> str:
    """The section "Reported in the papers (not measured here)": one table per paper and source table.

    Papers in the order of ``PAPERS`` (others after, by id), tables by number, rows in file order (the
    paper's); the same rows in any order give the same text. An empty list gives an empty string (no section).
    """
    if not rows:
        return ""
    ordered = sorted(rows, key=_order)
    lines = [f"## {SECTION_TITLE}", "",
             ("Published numbers transcribed from the papers (`results/reported/`, see its README). They were not "
              "measured by actbench, are not ranked with the runs above, and their settings (frames, training data, "
              "splits) may differ from the runs'."), ""]
    groups: dict[tuple[str, str], list[ReportedRow]] = {}
    for row in ordered:
        groups.setdefault((row.paper, row.table), []).append(row)
    paper = None
    for (group_paper, table), group in groups.items():
        if group_paper != paper:
            paper = group_paper
            lines += [f"### {PAPERS.get(paper, paper)}", ""]
        lines += [f"#### {table}", "",
                  "| benchmark | setting | model | metric | value | unit | note |",
                  "|---|---|---|---|---:|---|---|"]
        lines += [f"| {_cell(r.benchmark)} | {_cell(r.setting)} | {_cell(r.model)} | {_cell(r.metric)} | "
                  f"{r.value_text} | {_cell(r.unit)} | {_cell(r.note)} |" for r in group]
        lines.append("")
    return "\n".join(lines)


def reported_section(directory: Path = REPORTED_DIR) -> str:
    """The Markdown section for the leaderboard from ``directory`` ('' when it holds no reported files)."""
    return render_reported_markdown(load_reported_dir(directory))
