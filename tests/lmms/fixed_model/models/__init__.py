"""lmms-eval's plugin hook (``LMMS_EVAL_PLUGINS``): model name -> class in ``models/<name>.py``."""

AVAILABLE_MODELS = {"actbench_fixed": "FixedResponses"}
