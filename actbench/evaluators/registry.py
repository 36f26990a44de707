"""Names of the metrics, for ``actbench list`` and for reports that sort by each metric's direction."""

from actbench.registry import Registry

METRICS = Registry("metric", entry_point_group="actbench.metrics")
METRICS.register("accuracy", "actbench.evaluators.mqa_accuracy:accuracy",
                 summary="MQA accuracy (%), with a seeded 95% bootstrap interval; higher is better")
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
