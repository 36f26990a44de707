"""The action-token model as a :class:`~actbench.recipes.trainer.TrainTask`: recipe sections -> model,
micro-batches, loss, parameter groups, checkpoints.

A recipe (``recipes/llavaction-action-token-*.toml``) has, besides the trainer's ``[train]`` section:

- ``[model]``: the base checkpoint (``model_id`` from the local Hugging Face cache, or ``model_path``),
  ``dtype``, ``gradient_checkpointing``, ``vision_tower_lr`` (the SigLIP tower's own learning rate);
- ``[action_token]``: :class:`~actbench.recipes.action_token.ActionTokenConfig` (design, classes, weights);
- ``[data]``: ``num_frames``, ``frame_size``, ``video_root``, ``max_length`` and ``[[data.sources]]``
  (``path`` of a conversation JSON, its own ``video_root`` if not the default, ``sampling``: ``all``,
  ``first:N`` or ``random:P%``), e.g. ``build-train``'s ``train.json`` and the LLaVA-Video-178K replay data.

Relative paths are relative to the working directory. Every micro-batch of an epoch comes from a seeded
permutation of all records (``numpy`` generator seeded with ``[seed, epoch]``); frames are read when the
micro-batch is made, through an injectable frame provider (``frames=``; tests pass synthetic frames).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench.errors import ActbenchError
from actbench.recipes.action_token import (
    ActionTokenConfig,
    ActionTokenModel,
    action_token_loss,
    load_action_token_model,
    save_action_token_model,
)
from actbench.recipes.action_token_data import (
    ActionTokenBatch,
    ConversationEncoder,
    FrameProvider,
    VideoFrames,
    collate,
    read_records,
    sample_records,
)

TASK_NAME = "llavaction-action-token"
VISION_TOWER_PREFIX = "base.model.vision_tower."


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ModelSettings(_Section):
    model_id: str = "llava-hf/LLaVA-Video-7B-Qwen2-hf"
    model_path: str | None = None
    cache_dir: str | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    gradient_checkpointing: bool = False
    attn_implementation: str | None = None
    vision_tower_lr: float | None = Field(None, gt=0)  # None: the same as [train] lr


class DataSource(_Section):
    path: str
    video_root: str | None = None
    sampling: str = "all"


class DataSettings(_Section):
    sources: list[DataSource] = Field(min_length=1)
    video_root: str | None = None
    num_frames: int = Field(16, ge=1)
    frame_size: int = Field(384, ge=1)  # short side the decoder resizes to (the processor resizes again)
    max_length: int = Field(32768, ge=16)


def _section(model: type[_Section], raw: Any, where: str) -> Any:
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        raise ActbenchError.from_validation(where, error, "section") from None


class ActionTokenTask:
    """See the module docstring; ``micro_batch`` and ``seed`` come from the recipe's ``[train]``."""

    name = TASK_NAME

    def __init__(self, model: ModelSettings, action_token: ActionTokenConfig, data: DataSettings, *,
                 micro_batch: int, seed: int = 0, frames: FrameProvider | None = None):
        from transformers import AutoConfig, AutoTokenizer

        from actbench.model_adapters.hf_families import family_for
        from actbench.model_adapters.hf_video_mllm import (
            HFVideoArgs,
            chat_template_for,
            resolve_model_dir,
        )

        if isinstance(micro_batch, bool) or not isinstance(micro_batch, int) or micro_batch < 1:
            raise ActbenchError.bad_value("recipe", "train.micro_batch", "an integer >= 1", micro_batch)
        self.settings, self.config, self.data = model, action_token, data
        self.micro_batch, self.seed = micro_batch, seed
        self.model_dir, _ = resolve_model_dir(TASK_NAME, model.model_id, HFVideoArgs(
            model_path=model.model_path, cache_dir=model.cache_dir))
        base_config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        if base_config.model_type != "llava_onevision":
            raise ActbenchError.bad_value(f"{self.model_dir}/config.json", "model_type",
                                          "llava_onevision (LLaVA-OneVision / LLaVA-Video)", base_config.model_type)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        family = family_for(base_config.model_type, str(self.model_dir))
        family.setup(base_config, self.tokenizer, self.model_dir)
        self.chat_template, _ = chat_template_for(self.model_dir, self.tokenizer, family)
        self.encoder = ConversationEncoder(self.tokenizer, self.chat_template, family, action_token.tokens,
                                           data.max_length)
        classes = (action_token.verb_classes, action_token.noun_classes, action_token.action_classes)
        self.records: list[dict] = []
        self._roots: list[str | None] = []
        for i, source in enumerate(data.sources):
            found = sample_records(read_records(Path(source.path), classes), source.sampling, seed,
                                   f"data.sources[{i}]")
            self.records += found
            self._roots += [source.video_root or data.video_root] * len(found)
        self._frames = frames
        self._providers: dict[str | None, FrameProvider] = {}

    @classmethod
    def from_recipe(cls, recipe: dict, *, frames: FrameProvider | None = None, where: str = "recipe"
                    ) -> ActionTokenTask:
        """From a parsed recipe (the TOML file as a dict): its model / action_token / data sections and
        ``train.micro_batch`` / ``train.seed``."""
        train = recipe.get("train", {})
        return cls(_section(ModelSettings, recipe.get("model"), f"{where}: [model]"),
                   ActionTokenConfig.from_dict(recipe.get("action_token", {}), f"{where}: [action_token]"),
                   _section(DataSettings, recipe.get("data"), f"{where}: [data]"),
                   micro_batch=train.get("micro_batch", 1), seed=train.get("seed", 0), frames=frames)

    # -- the TrainTask protocol
    def build_model(self) -> Any:
        import torch
        from transformers import LlavaOnevisionForConditionalGeneration

        kwargs: dict[str, Any] = {"local_files_only": True, "dtype": getattr(torch, self.settings.dtype)}
        if self.settings.attn_implementation:
            kwargs["attn_implementation"] = self.settings.attn_implementation
        base = LlavaOnevisionForConditionalGeneration.from_pretrained(self.model_dir, **kwargs)
        if self.settings.gradient_checkpointing:
            base.gradient_checkpointing_enable()
        return ActionTokenModel(base, self.config).train()

    def micro_batches_per_epoch(self, epoch: int, seed: int) -> int:
        return math.ceil(len(self.records) / self.micro_batch)

    def batches(self, epoch: int, seed: int) -> Iterator[ActionTokenBatch]:
        order = np.random.default_rng([seed, epoch]).permutation(len(self.records))
        for a in range(0, len(order), self.micro_batch):
            examples = [self.encoder.encode(self.records[i], self._frames_of(i)) for i in order[a:a + self.micro_batch]]
            yield collate(examples, self.encoder.slot_id)

    def loss(self, model: Any, batch: ActionTokenBatch) -> tuple[Any, dict[str, float]]:
        batch = batch.to(next(model.parameters()).device)
        return action_token_loss(model(batch), batch, self.config)

    def param_groups(self, model: Any, lr: float) -> list[dict]:
        """The vision tower at ``vision_tower_lr`` (LLaVA-Video / LLaVAction: 2e-6), everything else
        (projector, language model, action token, heads) at ``lr``."""
        vision, rest = [], []
        for name, param in model.named_parameters():
            if param.requires_grad:
                (vision if name.startswith(VISION_TOWER_PREFIX) else rest).append(param)
        return [{"params": rest, "lr": lr, "name": "language_model_projector_action_token"},
                {"params": vision, "lr": self.settings.vision_tower_lr or lr, "name": "vision_tower"}]

    def save_model(self, model: Any, directory: Path) -> None:
        extra = {"chat_template.json": json.dumps({"chat_template": self.chat_template})}
        processor = self.model_dir / "preprocessor_config.json"
        if processor.is_file():  # the video processor settings inference reads (hf_families)
            extra["preprocessor_config.json"] = processor.read_text(encoding="utf-8")
        save_action_token_model(model, directory, tokenizer=self.tokenizer, extra_files=extra)

    def load_model(self, directory: Path) -> Any:
        import torch

        return load_action_token_model(directory, dtype=getattr(torch, self.settings.dtype)).train()

    # -- frames
    def _frames_of(self, index: int) -> np.ndarray:
        record = self.records[index]
        try:
            provider = self._frames or self._provider(self._roots[index])
            frames = provider(record)
        except ActbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure stops the run, naming the video
            raise ActbenchError(f"record {record['id']}: cannot read the frames of {record['video']}: "
                                f"{type(exc).__name__}: {exc}") from None
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) != self.data.num_frames:
            raise ActbenchError.bad_value(f"record {record['id']}", "frames",
                                          f"uint8 ({self.data.num_frames}, H, W, 3)", f"{frames.dtype} {frames.shape}")
        return frames

    def _provider(self, root: str | None) -> FrameProvider:
        if root is None:
            raise ActbenchError.bad_value("recipe", "data.video_root", "the folder of the videos (or a "
                                          "source's own video_root)", None)
        if root not in self._providers:
            from actbench.model_adapters.video import FrameSampler

            sampler = FrameSampler(n_frames=self.data.num_frames, size=self.data.frame_size, cache=None)
            self._providers[root] = VideoFrames(Path(root), sampler)
        return self._providers[root]
