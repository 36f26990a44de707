"""A tiny random-weight Llama (the architecture of Llama-3.2 and SmolLM2) written to a folder, no download.

Hidden size 32, two layers, the byte-level tokenizer of tiny_mllm.py: a forward pass takes a millisecond,
so the classifier variants can be trained for real in the tests.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.tiny_mllm import tiny_tokenizer


def build_tiny_llama(folder: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=False,
                         initializer_range=0.2)  # larger than the default 0.02 so that logits can be confident
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
