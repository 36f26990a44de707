"""Error diversity of multiple-choice runs: DScore at action, verb and noun level, and semantic overlap.

An MQA answer is a class prediction: the class of the chosen option (``option_classes[chosen]``,
``"verb:noun"``) against the class of the key (``option_classes[answer]``). From those pairs:

- DScore (GAD paper, Appendix B.3; :func:`actbench.evaluators.dscore.dscore`, reused as is) over the
  action classes, and over the verb and noun parts alone (a verb error is a chosen verb other than the
  answer's, whatever the noun). Lower means the errors concentrate on few classes per true class.
- Overlap of the wrong answers: the share whose chosen option shares the answer's verb (other noun), its
  noun (other verb), or neither. The GAD paper blames generative errors on such shared words ("add
  sugar" taken for "add meat"). The same shares over all distractors of the questions are the reference:
  a model that picks a wrong option at random shows the distractors' mix.

Only questions with a key (two-stage questions may have none) answered ``ok`` take part: a parse
failure, refusal or error predicts no class. Multi-label questions (several correct classes, no verb and
noun) are left out.

>>> truth = ["1:5", "1:5", "2:7", "3:9"]; chosen = ["1:5", "1:6", "4:7", "5:8"]
>>> overlap_counts(truth, chosen)
Overlap(total=3, same_verb=1, same_noun=1, neither=1)
>>> {k: round(v, 4) for k, v in mqa_dscores(truth, chosen).items()}
{'action': 0.0, 'verb': 0.0, 'noun': 0.0}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from actbench.errors import ActbenchError
from actbench.model_adapters.multi_answer import is_multi_label
from actbench.evaluators.dscore import dscore
from actbench.records import Answer, Question

LEVELS = ("action", "verb", "noun")


def class_pairs(questions: Sequence[Question], answers: Sequence[Answer | None]) -> tuple[np.ndarray, np.ndarray]:
    """(truth classes, chosen classes) of the keyed questions answered ``ok``; ``answers`` aligned with them."""
    truth, chosen = [], []
    for q, a in zip(questions, answers, strict=True):
        if a is None or a.status != "ok" or q.answer_index is None or is_multi_label(q):
            continue
        truth.append(q.option_classes[q.answer_index])
        chosen.append(q.option_classes[q.letters.index(a.answer)])
    return np.array(truth, dtype=str), np.array(chosen, dtype=str)


def split_classes(classes: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Verb and noun parts of ``"verb:noun"`` class ids.

    >>> split_classes(["3:14", "0:2"])
    (array(['3', '0'], dtype='<U1'), array(['14', '2'], dtype='<U2'))
    """
    verbs, nouns = [], []
    for cls in classes:
        verb, sep, noun = str(cls).partition(":")
        if not sep:
            raise ActbenchError.bad_value("option_classes", "class", "a 'verb:noun' class id", cls)
        verbs.append(verb)
        nouns.append(noun)
    return np.array(verbs, dtype=str), np.array(nouns, dtype=str)


def has_verb_noun_classes(dataset: str) -> bool:
    """Whether ``dataset``'s class keys are ``"verb:noun"`` ids (EPIC-KITCHENS-100), so verbs and nouns of
    errors can be compared; other datasets' keys (COIN step ids, CrossTask ``task:step``, Goal-Step
    categories) have no such parts, and only the action level applies to them."""
    from actbench.datasets.registry import DATASETS

    return dataset in DATASETS and bool(getattr(DATASETS.get(dataset), "verb_noun_classes", False))


def mqa_dscores(truth: Sequence[str], chosen: Sequence[str], *, verb_noun: bool = True) -> dict[str, float]:
    """DScore (nats) of the chosen classes against the truth at action, verb and noun level; NaN when empty
    (and at the verb and noun levels when the classes are not ``verb_noun`` ids)."""
    truth, chosen = np.asarray(truth, dtype=str), np.asarray(chosen, dtype=str)
    if truth.size == 0:
        return {level: float("nan") for level in LEVELS}
    if not verb_noun:
        return {"action": dscore(chosen, truth), "verb": float("nan"), "noun": float("nan")}
    truth_verb, truth_noun = split_classes(truth)
    chosen_verb, chosen_noun = split_classes(chosen)
    return {"action": dscore(chosen, truth), "verb": dscore(chosen_verb, truth_verb),
            "noun": dscore(chosen_noun, truth_noun)}


@dataclass(frozen=True)
class Overlap:
    """Wrong choices (or distractors) by what they share with the answer's class."""

    total: int
    same_verb: int  # the answer's verb, another noun
    same_noun: int  # the answer's noun, another verb
    neither: int
    parts: bool = field(default=True, repr=False)  # False: classes without verb and noun parts, only the total

    def shares(self) -> tuple[float, float, float]:
        """(same verb, same noun, neither) in percent; NaN when there is nothing to share out."""
        if self.total == 0 or not self.parts:
            return (float("nan"),) * 3
        return tuple(100.0 * x / self.total for x in (self.same_verb, self.same_noun, self.neither))


def overlap_counts(truth: Sequence[str], chosen: Sequence[str], *, verb_noun: bool = True) -> Overlap:
    """Of the pairs whose chosen class is not the truth, how many share the verb, the noun, or neither."""
    truth, chosen = np.asarray(truth, dtype=str), np.asarray(chosen, dtype=str)
    wrong = truth != chosen
    if not verb_noun:
        return Overlap(int(wrong.sum()), 0, 0, 0, parts=False)
    truth_verb, truth_noun = split_classes(truth[wrong])
    chosen_verb, chosen_noun = split_classes(chosen[wrong])
    verb, noun = truth_verb == chosen_verb, truth_noun == chosen_noun
    # Distinct classes cannot share both parts, so the three counts add up to the total.
    return Overlap(int(wrong.sum()), int(verb.sum()), int(noun.sum()), int((~verb & ~noun).sum()))


def distractor_overlap(questions: Sequence[Question], *, verb_noun: bool = True) -> Overlap:
    """:func:`overlap_counts` over every distractor of the keyed questions (the reference mix)."""
    truth, other = [], []
    for q in questions:
        if q.answer_index is None or is_multi_label(q):
            continue
        answer = q.option_classes[q.answer_index]
        for i, cls in enumerate(q.option_classes):
            if i != q.answer_index:
                truth.append(answer)
                other.append(cls)
    return overlap_counts(truth, other, verb_noun=verb_noun)


def verb_confusion(truth: Sequence[str], chosen: Sequence[str], verbs: Sequence[str]) -> np.ndarray:
    """Counts of (verb of the answer, verb of the chosen option) over the given verbs (rows: truth).

    Pairs with either verb outside ``verbs`` are left out: over thousands of classes only a few verbs
    make a readable matrix.

    >>> verb_confusion(["1:5", "1:6", "2:7", "3:1"], ["1:5", "2:6", "2:7", "1:1"], ["1", "2"]).tolist()
    [[1, 1], [0, 1]]
    """
    index = {v: i for i, v in enumerate(verbs)}
    matrix = np.zeros((len(verbs), len(verbs)), dtype=np.int64)
    truth_verb, _ = split_classes(truth)
    chosen_verb, _ = split_classes(chosen)
    for t, c in zip(truth_verb, chosen_verb):
        if t in index and c in index:
            matrix[index[t], index[c]] += 1
    return matrix


def frequent_verbs(questions: Sequence[Question], top_n: int) -> list[str]:
    """The ``top_n`` verbs most often the answer's (ties by verb id, numerically where ids are numbers)."""
    counts = Counter(q.option_classes[q.answer_index].partition(":")[0]
                     for q in questions if q.answer_index is not None)
    key = (lambda v: (-counts[v], int(v) if v.isdigit() else 0, v))
    return sorted(counts, key=key)[:top_n]


def verb_names(questions: Sequence[Question]) -> dict[str, str]:
    """A readable word per verb id: the commonest first word of the option texts of that verb.

    Class names are not in the benchmark files; in label mode the option text starts with the verb's
    name, in narration mode the narration usually does ("take plate"), so the commonest first word is
    a good label for a figure (the id is shown beside it).
    """
    words: dict[str, Counter] = {}
    for q in questions:
        for text, cls in zip(q.options, q.option_classes):
            first = text.split()[0].lower().strip(".,") if text.split() else ""
            words.setdefault(cls.partition(":")[0], Counter())[first] += 1
    return {verb: min(c.items(), key=lambda item: (-item[1], item[0]))[0] for verb, c in words.items()}
