"""Turn other evaluation tools' outputs into actbench run directories (``actbench import TOOL FILE``).

An imported run is an ordinary run directory (``run.json``, ``predictions.jsonl``, ``metrics.json``, see
:mod:`actbench.runner`): ``actbench report`` puts it on the leaderboard and ``actbench compare`` pairs it
with any other run on the same benchmark. Every reply is parsed again with actbench's own answer parser,
so an imported model is scored exactly as a model ``actbench run`` asked.

- :mod:`actbench.importers.lmms_eval`: the samples file of ``lmms-eval --log_samples`` on a task that
  ``actbench export --format lmms-eval`` wrote.
"""
