"""LLaVAction's training-data reformulation (§3.2, Appendix C): ``actbench build-train``.

From the EPIC-KITCHENS-100 training split and a specialist's ranking of it, one LLaVA-style training set
with adversarial multiple-choice questions (with prior actions for a share of them), temporal
detection, direct prediction, and optional captions / open-ended QA from the user's files.

>>> from actbench.training_data import TrainSpec, build_train
>>> manifest = build_train(TrainSpec(source="random", out="train-data", limit=100))  # doctest: +SKIP
"""

from actbench.training_data.build import TrainSpec, build_train

__all__ = ["TrainSpec", "build_train"]
