"""Evaluators: metrics as pure functions over numpy arrays, one family per module.

Every metric takes arrays plus keyword-only options and declares ``higher_is_better`` as a function
attribute. Nothing here imports torch or sklearn, so scoring works on the core install. Among them,
the online action detection (OAD) and classification families:

- ``segments``: maximal runs of one label from per-frame labels (the unit of the OAD metrics)
- ``segment_f1``: segment F1 @ IoU (micro over videos, and the balanced per-class form)
- ``point_f1``: point F1 for action starts @ 1 s / 2 s
- ``frame_metrics``: frame / top-1 accuracy and per-frame mAP
- ``dscore``: the diversity score of misclassifications and the memorization rate
- ``oad_report``: reading P.json / G.json and computing every OAD metric at once
- ``latency``: per-prediction latency (p50 / p95 / mean), FPS of the model computation, training throughput
"""
