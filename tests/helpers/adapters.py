"""Adapters used only by the tests: slow (to be killed mid-run), scripted (every status), crashing on a question."""

from __future__ import annotations

import hashlib
import time

from actbench.model_adapters import MODELS
from actbench.model_adapters.base import AdapterContext
from actbench.records import Answer


class SlowOracle:
    """Answers correctly, one question per batch, sleeping between them."""

    name = "test-slow"
    batch_size = 1

    def __init__(self, delay: float):
        self.delay = delay

    def answer(self, questions):
        time.sleep(self.delay)
        return [Answer(q.id, q.answer_letter, "ok", q.answer_letter, self.delay) for q in questions]

    def describe(self):
        return {"name": self.name, "args": {}}


class Scripted:
    """Question i gets: ok+right, ok+wrong, parse_fail, refused, error, an out-of-range letter (cycle)."""

    name = "test-scripted"
    batch_size = 4

    def answer(self, questions):
        out = []
        for q in questions:
            i = int(q.id.rsplit("_", 1)[1]) % 6
            wrong = next(letter for letter in q.letters if letter != q.answer_letter)
            out.append([Answer(q.id, q.answer_letter, "ok", "right", 0.1),
                        Answer(q.id, wrong, "ok", "wrong", 0.2),
                        Answer(q.id, None, "parse_fail", "I think it is the blue one", 0.3),
                        Answer(q.id, None, "refused", "I cannot help with that", 0.4),
                        Answer(q.id, None, "error", "timeout after 30 s", 0.5),
                        Answer(q.id, "Z", "ok", "Z", 0.6)][i])
        return out

    def describe(self):
        return {"name": self.name, "args": {}}


class FrameShape:
    """Looks at frames: answers A and reports the shape of what it was given."""

    name = "test-frames"
    batch_size = 3
    uses_frames = True

    def answer(self, questions, frames=None):
        return [Answer(q.id, "A", "ok", f"{f.shape} {f.dtype}", 0.0) for q, f in zip(questions, frames)]

    def describe(self):
        return {"name": self.name, "args": {}}


class CrashOn:
    """A letter from a hash of the id (right or wrong), ``delay`` seconds per question; raises on ``crash_on``.

    ``crash_on`` and ``delay`` are runtime arguments (a resumed run may change them, run.json does not record
    them); other arguments (``device``) are recorded as given.
    """

    name = "test-crash"
    batch_size = 1
    runtime_args = ("crash_on", "delay")

    def __init__(self, args):
        self.args = dict(args)
        self.crash_on = str(args.get("crash_on", ""))
        self.delay = float(args.get("delay", "0"))

    def answer(self, questions):
        out = []
        for q in questions:
            if q.id == self.crash_on:
                raise RuntimeError(f"crashed on {q.id}")
            time.sleep(self.delay)
            digest = hashlib.sha256(q.id.encode()).digest()
            out.append(Answer(q.id, q.letters[digest[0] % len(q.letters)], "ok", f"hash {digest[0]}", 0.0))
        return out

    def describe(self):
        return {"name": self.name, "args": {k: v for k, v in self.args.items() if k not in self.runtime_args}}


def _slow(ctx: AdapterContext) -> SlowOracle:
    return SlowOracle(float(ctx.args.get("delay", "0.2")))


def _scripted(ctx: AdapterContext) -> Scripted:
    return Scripted()


for _name, _factory in (("test-slow", _slow), ("test-scripted", _scripted),
                        ("test-frames", lambda ctx: FrameShape()), ("test-crash", lambda ctx: CrashOn(ctx.args))):
    if _name not in MODELS:
        MODELS.register(_name, _factory, summary="test only")
