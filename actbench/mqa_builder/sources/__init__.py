"""Distractor sources: each turns its input into a :class:`~actbench.mqa_builder.ranking.Ranking`.

Each entry is a function ``rank(ctx: SourceContext) -> Ranking`` in its own module, imported only when
used (the readers of specialist files pull in pyarrow or pickled numpy only then).
"""

from actbench.registry import Registry

SOURCES = Registry("source", entry_point_group="actbench.sources")
SOURCES.register("tim", "actbench.mqa_builder.sources.tim:rank",
                 summary="TIM --extract_feats pickle (softmaxed action scores, v_narration_ids)")
SOURCES.register("avion", "actbench.mqa_builder.sources.avion:rank",
                 summary="AVION --evaluate --pickle-filename pickle (logits N x 3806, targets)")
SOURCES.register("epic-json", "actbench.mqa_builder.sources.epic_json:rank",
                 summary="EPIC-KITCHENS challenge submission JSON (verb and noun scores per clip)")
SOURCES.register("llavaction", "actbench.mqa_builder.sources.llavaction:rank",
                 summary="LLaVAction ranked predictions JSON {row: {predictions, target}}")
SOURCES.register("scores", "actbench.mqa_builder.sources.scores_file:rank",
                 summary="generic .npz / .parquet with narration_ids, scores (N x C), classes")
SOURCES.register("random", "actbench.mqa_builder.sources.random_source:rank",
                 summary="uniform over the other classes, seeded")
SOURCES.register("prior", "actbench.mqa_builder.sources.prior:rank",
                 summary="sequence model P(action | previous actions of the video), no video")
SOURCES.register("temporal", "actbench.mqa_builder.sources.temporal:rank",
                 summary="the other actions of the same video nearest in time")
