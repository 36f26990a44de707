"""The append-only prediction journal of a run (``predictions.jsonl``).

Each batch of finished answers is written as whole lines, flushed and fsynced before the runner goes
on (a group commit: one fsync per batch, since an fsync costs about half a millisecond here and a
per-line fsync would dominate fast runs). A kill can at worst leave a cut last line; reading the
journal drops it (truncating the file to the last newline), so a resumed run redoes exactly the
questions that were not durably recorded: none is lost and none is answered twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from actbench.errors import ActbenchError
from actbench.records import STATUSES, Answer


def answer_to_record(a: Answer) -> dict:
    """A journal line: the fields of DESIGN.md, then whatever the adapter adds in ``extra``."""
    record = {"id": a.id, "answer": a.answer, "status": a.status, "raw": a.raw,
              "latency_s": round(a.latency_s, 6), "tokens_in": a.tokens_in, "tokens_out": a.tokens_out,
              "cost_usd": a.cost_usd}
    record.update(a.extra)
    return record


def answer_from_record(record: dict, where: str) -> Answer:
    try:
        return Answer(record["id"], record.get("answer"), record["status"], record.get("raw", ""),
                      float(record.get("latency_s", 0.0)), int(record.get("tokens_in", 0)),
                      int(record.get("tokens_out", 0)), float(record.get("cost_usd", 0.0)))
    except (KeyError, ValueError, TypeError) as error:
        raise ActbenchError.bad_value(where, "record", f"a prediction with a status of {', '.join(STATUSES)} "
                                      "and a letter only when ok", f"{record} ({error})") from None


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> list[dict]:
        """All complete records; a trailing partial line is removed from the file."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(end)
                handle.flush()
                os.fsync(handle.fileno())
        records = []
        for number, line in enumerate(data[:end].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ActbenchError.bad_value(f"{self.path}:{number}", "line", "a JSON object",
                                              f"invalid JSON ({error.msg})") from None
            if not isinstance(record, dict) or "id" not in record:
                raise ActbenchError.bad_value(f"{self.path}:{number}", "id", "an object with an id", record)
            records.append(record)
        return records

    def append(self, records: Iterable[dict]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        if not text:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def read_finished_answers(path: Path) -> Iterator[tuple[str, Answer]]:
    """``(where, answer)`` for every complete line of a journal, without touching the file.

    A cut last line (a killed run) is not an answer, as the runner's resume decides; a line that is not a
    record of an answer is a one-line error naming ``path:line``.
    """
    path = Path(path)
    data = path.read_bytes()
    for number, line in enumerate(data[: data.rfind(b"\n") + 1].splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ActbenchError.bad_value(where, "line", "a JSON object", f"invalid JSON ({error})") from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ActbenchError.bad_value(where, "id", "an object with a question id", record)
        yield where, answer_from_record(record, where)
