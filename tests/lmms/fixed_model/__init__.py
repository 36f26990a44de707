"""An lmms-eval model plugin for the tests: ``LMMS_EVAL_PLUGINS=tests.lmms.fixed_model``."""
