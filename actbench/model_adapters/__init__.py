"""Model adapters: everything that answers multiple-choice questions, behind one protocol.

The registry maps a model name to a factory ``factory(ctx: AdapterContext) -> ModelAdapter``; modules
are imported only when their model is used, so ``actbench list`` and ``--help`` need no torch.
Third-party adapters register through the ``actbench.models`` entry-point group.
"""

from actbench.registry import Registry

MODELS = Registry("model", entry_point_group="actbench.models")
MODELS.register("random", "actbench.model_adapters.baselines:random_adapter",
                summary="a uniformly random valid letter per question (seeded): the chance row")
MODELS.register("always-a", "actbench.model_adapters.baselines:always_a_adapter",
                summary="always answers A: a check of letter balance")
MODELS.register("oracle", "actbench.model_adapters.baselines:oracle_adapter",
                summary="reads the answer key: the ceiling row and a test of the pipeline")
MODELS.register("prior", "actbench.model_adapters.prior_adapter:prior_adapter",
                summary="the video-free sequence model of actions, choosing the most likely option")
