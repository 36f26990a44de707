"""Names of the metrics, for ``actbench list`` and for reports that sort by each metric's direction."""

from actbench.registry import Registry

METRICS = Registry("metric", entry_point_group="actbench.metrics")
METRICS.register("accuracy", "actbench.evaluators.mqa_accuracy:accuracy",
                 summary="MQA accuracy (%), with a seeded 95% bootstrap interval; higher is better")
METRICS.register("jaccard", "actbench.evaluators.mqa_accuracy:jaccard",
                 summary="multi-label MQA: mean Jaccard index of chosen and correct letters (%), LLaVAction "
                         "Table 6; higher is better")
METRICS.register("segment_f1", "actbench.evaluators.segment_f1:segment_f1",
                 summary="OAD segment F1 @ IoU (%), micro over videos; higher is better")
METRICS.register("point_f1", "actbench.evaluators.point_f1:point_f1",
                 summary="OAD point F1 of action starts @ 1 s / 2 s (%); higher is better")
METRICS.register("frame_accuracy", "actbench.evaluators.frame_metrics:frame_accuracy",
                 summary="per-frame accuracy (%); higher is better")
METRICS.register("frame_map", "actbench.evaluators.frame_metrics:frame_map",
                 summary="per-frame mean average precision (%); higher is better")
METRICS.register("dscore", "actbench.evaluators.dscore:dscore",
                 summary="entropy diversity of errors (GAD Appendix B.3)")
METRICS.register("ek100_recognition", "actbench.evaluators.ek100_recognition:ek100_recognition",
                 summary="EK100 verb / noun / action top-1 and top-5, unseen and tail top-1 (%); higher is better")
METRICS.register("paired_bootstrap", "actbench.evaluators.paired_tests:paired_bootstrap",
                 summary="paired bootstrap of the accuracy difference between two runs (CI, p-value)")
METRICS.register("mcnemar", "actbench.evaluators.paired_tests:mcnemar",
                 summary="McNemar's test between two runs on the same questions (exact below 25 discordant)")
METRICS.register("circular_accuracy", "actbench.evaluators.circular:circular_metrics",
                 summary="CircularEval accuracy under option rotations and position bias (%); higher is better")
METRICS.register("latency", "actbench.evaluators.latency:latency_summary",
                 summary="per-call latency p50/p95/mean (s) and FPS of the model computation alone; lower latency "
                         "is better")
