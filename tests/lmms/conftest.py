"""tests/lmms runs only inside the lmms-eval environment (``make test-lmms``, .venv-lmms).

lmms-eval pins a torch the main environment does not have, so ``make test`` (which collects ``tests/``)
must not even import these modules: where lmms_eval is not installed, pytest ignores this folder.

Where it is installed, the Hugging Face hub is off and the cache is a private temporary folder: lmms-eval
must find everything in the exported task folder. Set here, at import, because ``datasets`` reads its cache
folder once when it is first imported (collecting the plugin module already imports lmms_eval).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile

if importlib.util.find_spec("lmms_eval") is None:
    collect_ignore_glob = ["*"]
else:
    _HOME = tempfile.mkdtemp(prefix="actbench-lmms-hf-")
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
    os.environ.update(HF_HOME=_HOME, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
