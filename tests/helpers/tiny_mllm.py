"""Tiny random-weight checkpoints of the video MLLM architectures, written to a folder, no download.

Each builder writes what a real checkpoint folder holds: ``config.json`` and the (random, seeded)
weights, a tokenizer with the architecture's special tokens, the chat template and the video processor
settings, so the adapter loads it through its real path (``model_path=DIR``). The sizes follow
transformers' own model tests (hidden size 32, two layers); the frames are small (56 px), so a forward
pass takes milliseconds.

The tokenizer is a byte-level BPE like Qwen2's: every byte is a token, plus one merge per capital letter
so that ``" A"`` is one token different from ``"A"``, as in the real tokenizers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from actbench.model_adapters.hf_families import FAMILIES

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<video>", "<image>", "<|vision_start|>",
            "<|vision_end|>", "<|video_pad|>", "<|image_pad|>", "<img>", "</img>", "<IMG_CONTEXT>"]
FRAME = 56  # frame side in pixels: 4x4 patches of 14


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges = []
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        vocab["Ġ" + letter] = len(vocab)
        merges.append(("Ġ", letter))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIALS[1:])


def _text_config(vocab_size: int, **extra) -> dict:
    return {"model_type": "qwen2", "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 37,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "pad_token_id": 0, "bos_token_id": None, "eos_token_id": None,
            "tie_word_embeddings": False, **extra}


def _sharpen(model, seed: int) -> None:
    """Re-draw the weights large (std 0.3, embeddings 1.0): transformers' initialisation (std 0.02) gives
    near-uniform letter probabilities that hardly depend on the input, which would make the batching tests
    blind to a padding bug."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() > 1:
                std = 1.0 if "embed" in name else 0.3
                param.copy_(torch.randn(param.shape, generator=generator) * std)


def _save(folder: Path, model, tokenizer, family: str, preprocessor: dict, template: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # safetensors
    tokenizer.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        jinja.unlink()  # a tokenizer may write its own; the processor's template is the one we test
    if template:
        (folder / "chat_template.json").write_text(
            json.dumps({"chat_template": FAMILIES[family].default_template}), encoding="utf-8")
    return folder


def build_llava_onevision(folder: Path, *, seed: int = 0, template: bool = True) -> Path:
    import torch
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    tokenizer = tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    config = LlavaOnevisionConfig(
        text_config=_text_config(len(tokenizer), eos_token_id=ids["<|im_end|>"]),
        vision_config={"model_type": "siglip_vision_model", "image_size": FRAME, "patch_size": 14,
                       "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                       "num_attention_heads": 4},
        image_token_index=ids["<image>"], video_token_index=ids["<video>"],
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        image_grid_pinpoints=[[FRAME, FRAME]], tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    _sharpen(model, seed)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    pre = {"size": {"height": FRAME, "width": FRAME}, "resample": 3, "image_mean": [0.5, 0.5, 0.5],
           "image_std": [0.5, 0.5, 0.5], "do_rescale": True, "rescale_factor": 1 / 255}
    return _save(folder, model, tokenizer, "llava_onevision", pre, template)


def build_qwen2_5_vl(folder: Path, *, seed: int = 0, template: bool = True) -> Path:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    text = _text_config(len(tokenizer), eos_token_id=ids["<|im_end|>"], model_type="qwen2_5_vl_text",
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                         "mrope_section": [2, 1, 1]})
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 32, "num_heads": 4,
                       "out_hidden_size": 32, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [1],
                       "tokens_per_second": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    _sharpen(model, seed)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    pre = {"min_pixels": 28 * 28, "max_pixels": FRAME * FRAME * 2, "patch_size": 14, "temporal_patch_size": 2,
           "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
           "image_std": [0.26862954, 0.26130258, 0.27577711]}
    return _save(folder, model, tokenizer, "qwen2_5_vl", pre, template)


def build_internvl(folder: Path, *, seed: int = 0, template: bool = True) -> Path:
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    tokenizer = tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    config = InternVLConfig(
        text_config=_text_config(len(tokenizer), eos_token_id=ids["<|im_end|>"]),
        vision_config={"image_size": [FRAME, FRAME], "patch_size": [14, 14], "hidden_size": 32,
                       "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4},
        image_token_id=ids["<IMG_CONTEXT>"], image_seq_length=(FRAME // 14) ** 2 // 4, downsample_ratio=0.5,
        vision_feature_layer=-1, vision_feature_select_strategy="default", tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config).eval()
    _sharpen(model, seed)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    pre = {"size": {"height": FRAME, "width": FRAME}, "resample": 3, "image_mean": [0.485, 0.456, 0.406],
           "image_std": [0.229, 0.224, 0.225]}
    return _save(folder, model, tokenizer, "internvl", pre, template)


BUILDERS = {"llava_onevision": build_llava_onevision, "qwen2_5_vl": build_qwen2_5_vl,
            "internvl": build_internvl}


def synthetic_frames(seed: int, n: int = 4, height: int = 48, width: int = 80) -> np.ndarray:
    """Smooth random uint8 frames ``(n, height, width, 3)`` (a different clip per seed)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    frames = base.repeat(8, axis=1).repeat(8, axis=2)[:, :height, :width]
    return np.clip(frames + rng.normal(0, 8, frames.shape), 0, 255).astype(np.uint8)


def pattern_frames(n: int, height: int, width: int) -> np.ndarray:
    """Deterministic uint8 frames with hard edges (where bicubic resizing overshoots), from a formula so
    that a reference computed elsewhere needs no random generator."""
    t, y, x, c = np.meshgrid(np.arange(n), np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    values = (37 * x + 91 * y + 53 * t + 101 * c + ((x // 5 + y // 7) % 2) * 120) % 256
    return values.astype(np.uint8)
