"""``random``: every other class equally likely, from a seeded generator (LLaVAction's "Random 5")."""

from __future__ import annotations

import numpy as np

from actbench.mqa_builder.ranking import Ranking, SourceContext

# A fixed stream id keeps this source's draws independent of the other seeded steps of a build.
_STREAM = 0x52414E44


def rank(ctx: SourceContext) -> Ranking:
    n_classes = len(ctx.dataset.action_space)
    rng = np.random.default_rng([ctx.seed, _STREAM])
    scores = rng.random((len(ctx.clips), n_classes), dtype=np.float32)
    return Ranking(tuple(c.narration_id for c in ctx.clips), scores, origin="source 'random'")
