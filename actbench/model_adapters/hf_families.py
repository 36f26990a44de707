"""Per-architecture pieces of the local video MLLMs: how a question's frames become model inputs.

Three Hugging Face architectures cover the five models of the papers: ``llava_onevision``
(LLaVA-OneVision 0.5B/7B and LLaVA-Video-7B, which transformers runs as LLaVA-OneVision), ``qwen2_5_vl``
and ``internvl`` (transformers' native InternVL, the ``-hf`` checkpoints). A :class:`Family` knows, for
its architecture, the placeholder its chat template writes for a video, what that placeholder expands to
(how many vision tokens), the pixel tensors, and the extra forward arguments.

Why not transformers' processors: in transformers 5 every *video* processor needs torchvision, and the
PyPI torchvision does not load beside the CPU torch this project pins. The video preprocessing here is
the video processors' own, written with torch only: resize (bicubic, antialiased, rounded back to uint8
as torchvision does for uint8 input), rescale, normalise, and for Qwen2.5-VL ``smart_resize`` and the
patch layout. Its settings come from the checkpoint, in transformers' order: ``processor_config.json``
(its ``video_processor``), ``video_preprocessor_config.json``, ``preprocessor_config.json``, then the
video processor class's defaults.

>>> FAMILIES["qwen2_5_vl"].placeholder
'<|vision_start|><|video_pad|><|vision_end|>'
>>> smart_resize(384, 683, factor=28, min_pixels=3136, max_pixels=12845056)
(392, 672)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from actbench.errors import ActbenchError

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL codes used in processor configs


@dataclass(frozen=True)
class Encoded:
    """One question's video as model inputs: the text the placeholder becomes and its tensors."""

    text: str
    tensors: dict[str, Any]
    group: tuple = ()  # questions of one forward pass must share this (stacked tensors)


@dataclass(frozen=True)
class VideoSettings:
    """The video processor's settings read from a checkpoint (see the module docstring)."""

    size: dict[str, int]
    resample: str = "bicubic"
    do_resize: bool = True
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"size": dict(self.size), "resample": self.resample, "rescale_factor": self.rescale_factor,
                "image_mean": list(self.image_mean), "image_std": list(self.image_std), **self.extra}


def read_video_settings(model_dir: Path | None, defaults: dict[str, Any]) -> tuple[VideoSettings, str]:
    """The checkpoint's video processor settings over ``defaults``, and the file they came from."""
    raw, source = {}, "defaults"
    if model_dir is not None:
        nested = _json(model_dir / "processor_config.json").get("video_processor")
        if isinstance(nested, dict):
            raw, source = nested, "processor_config.json"
        else:
            for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
                found = _json(model_dir / name)
                if found:
                    raw, source = found, name
                    break
    merged = {**defaults, **{k: v for k, v in raw.items() if v is not None}}
    size = dict(merged.get("size") or {})
    # Qwen2-VL style min_pixels / max_pixels override size, as in its video processor's __init__.
    if merged.get("min_pixels") is not None:
        size["shortest_edge"] = int(merged["min_pixels"])
    if merged.get("max_pixels") is not None:
        size["longest_edge"] = int(merged["max_pixels"])
    if merged.get("do_center_crop"):
        raise ActbenchError(f"{model_dir}: {source}: do_center_crop=true is not supported for video frames")
    resample = merged.get("resample", 3)
    if resample not in _RESAMPLE:
        raise ActbenchError.bad_value(f"{model_dir}/{source}", "resample", "2 (bilinear) or 3 (bicubic)", resample)
    extra = {k: merged[k] for k in ("patch_size", "temporal_patch_size", "merge_size") if k in merged}
    settings = VideoSettings(
        size={k: int(v) for k, v in size.items()}, resample=_RESAMPLE[resample],
        do_resize=bool(merged.get("do_resize", True)), do_rescale=bool(merged.get("do_rescale", True)),
        rescale_factor=float(merged.get("rescale_factor", 1 / 255)),
        do_normalize=bool(merged.get("do_normalize", True)),
        image_mean=_triple(merged.get("image_mean", OPENAI_CLIP_MEAN)),
        image_std=_triple(merged.get("image_std", OPENAI_CLIP_STD)), extra=extra)
    return settings, source


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _triple(value: Any) -> tuple[float, float, float]:
    values = [float(value)] * 3 if isinstance(value, (int, float)) else [float(v) for v in value]
    return (values[0], values[1], values[2])


# ---- pixel operations (torch), matching transformers' torchvision-based video processors


def resize_frames(frames: np.ndarray, height: int, width: int, resample: str) -> "Any":
    """``(N, H, W, 3)`` uint8 -> float32 ``(N, 3, height, width)`` in [0, 255], antialiased.

    As torchvision's resize of a uint8 tensor on the CPU (what transformers' video processors call): torch's
    own uint8 kernel, whose separable passes round in between; where torch has none, float interpolation
    clamped and rounded back to integers, torchvision's fallback.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
    if x.shape[-2:] != (height, width):
        try:
            x = F.interpolate(x, size=(height, width), mode=resample, align_corners=False, antialias=True)
        except (RuntimeError, NotImplementedError):
            x = F.interpolate(x.to(torch.float32), size=(height, width), mode=resample, align_corners=False,
                              antialias=True).clamp_(0, 255).round_()
    return x.to(torch.float32)


def rescale_normalize(x: "Any", s: VideoSettings) -> "Any":
    import torch

    if s.do_rescale:
        x = x * s.rescale_factor
    if s.do_normalize:
        mean = torch.tensor(s.image_mean, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(s.image_std, dtype=x.dtype).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x


def resize_target(height: int, width: int, size: dict[str, int]) -> tuple[int, int]:
    """The output size for a ``{"height", "width"}`` or ``{"shortest_edge"}`` size (aspect kept)."""
    if "height" in size and "width" in size:
        return size["height"], size["width"]
    if set(size) == {"shortest_edge"}:
        short, long = sorted((height, width))
        new_short, new_long = size["shortest_edge"], int(size["shortest_edge"] * long / short)
        return (new_short, new_long) if height <= width else (new_long, new_short)
    raise ActbenchError.bad_value("video processor config", "size",
                                  "{height, width} or {shortest_edge}", size)


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's resize rule: both sides divisible by ``factor``, pixels within [min, max], aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio above 200: {height}x{width}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


# ---- the families


class Family:
    """Base: the shared parts; subclasses set the class attributes and ``encode``/``collate``."""

    model_type = ""
    placeholder = ""  # what the chat template writes for {"type": "video"}
    default_template = ""
    processor_defaults: dict[str, Any] = {}

    def setup(self, config: Any, tokenizer: Any, model_dir: Path | None) -> None:
        self.config = config
        self.settings, self.settings_source = read_video_settings(model_dir, self.processor_defaults)
        self.token_ids = {t: _single_id(tokenizer, t) for t in self.required_tokens()}

    def required_tokens(self) -> Sequence[str]:
        return ()

    def describe(self) -> dict[str, Any]:
        return {"architecture": self.model_type, "video_processor": self.settings.describe(),
                "video_processor_source": self.settings_source}

    def encode(self, frames: np.ndarray, start: float, end: float) -> Encoded:
        raise NotImplementedError

    def collate(self, items: Sequence[Encoded], dtype: Any, device: Any) -> dict[str, Any]:
        raise NotImplementedError

    def forward_extras(self, input_ids: Any, attention_mask: Any, accepts: set[str]) -> dict[str, Any]:
        """Extra forward arguments. Explicit position ids from the attention mask (when the model takes
        them) make a left-padded row see the same positions as when it is alone."""
        if "position_ids" not in accepts:
            return {}
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp_(min=0)
        return {"position_ids": position_ids}


def _single_id(tokenizer: Any, token: str) -> int:
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise ActbenchError(f"the tokenizer does not have {token!r} as one token (found ids {ids}); "
                            "is this checkpoint of the expected architecture?")
    return int(ids[0])


class LlavaOneVision(Family):
    """LLaVA-OneVision and LLaVA-Video: each frame at 384x384 through SigLIP, 2x2 bilinear pooling of the
    patch grid, one newline embedding after the whole video: ``N * ceil(s/2)**2 + 1`` video tokens."""

    model_type = "llava_onevision"
    placeholder = "<video>"
    default_template = (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>' }}{% endfor %}"
        "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\\n' + content['text'] }}"
        "{% endfor %}{{'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
        "{% endif %}")
    processor_defaults = {"size": {"height": 384, "width": 384}, "resample": 3,
                          "image_mean": OPENAI_CLIP_MEAN, "image_std": OPENAI_CLIP_STD}

    def required_tokens(self) -> Sequence[str]:
        return (self.placeholder,)

    def setup(self, config: Any, tokenizer: Any, model_dir: Path | None) -> None:
        super().setup(config, tokenizer, model_dir)
        expected = getattr(config, "video_token_id", None) or getattr(config, "video_token_index", None)
        if expected is not None and expected != self.token_ids[self.placeholder]:
            raise ActbenchError(f"{model_dir}: the tokenizer's {self.placeholder} is id "
                                f"{self.token_ids[self.placeholder]} but the model expects {expected}")
        side = config.vision_config.image_size // config.vision_config.patch_size
        self.tokens_per_frame = math.ceil(side / 2) ** 2

    def encode(self, frames: np.ndarray, start: float, end: float) -> Encoded:
        s = self.settings
        h, w = resize_target(frames.shape[1], frames.shape[2], s.size) if s.do_resize else frames.shape[1:3]
        pixels = rescale_normalize(resize_frames(frames, h, w, s.resample), s)
        text = self.placeholder * (len(frames) * self.tokens_per_frame + 1)
        return Encoded(text, {"pixel_values_videos": pixels}, group=tuple(pixels.shape))

    def collate(self, items: Sequence[Encoded], dtype: Any, device: Any) -> dict[str, Any]:
        import torch

        if not items:
            return {}
        videos = torch.stack([i.tensors["pixel_values_videos"] for i in items])
        return {"pixel_values_videos": videos.to(device=device, dtype=dtype)}


class Qwen25VL(Family):
    """Qwen2.5-VL: frames resized by ``smart_resize`` (multiples of patch x merge), grouped in pairs
    (``temporal_patch_size``), flattened into patches; ``t*h*w / merge**2`` video tokens. The seconds per
    temporal patch come from the question's own sampling (frame spacing ``(end - start) / N``), as
    qwen-vl-utils passes the real fps, so the model's absolute-time position ids are right."""

    model_type = "qwen2_5_vl"
    placeholder = "<|vision_start|><|video_pad|><|vision_end|>"
    default_template = (
        "{% set video_count = namespace(value=0) %}{% for message in messages %}"
        "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant."
        "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
        "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
        "{% if content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
        "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    processor_defaults = {"size": {"shortest_edge": 128 * 28 * 28, "longest_edge": 28 * 28 * 768},
                          "resample": 3, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
                          "image_mean": OPENAI_CLIP_MEAN, "image_std": OPENAI_CLIP_STD}
    VIDEO_PAD = "<|video_pad|>"
    DEFAULT_FPS = 24.0  # transformers' assumption for frames given without timing

    def required_tokens(self) -> Sequence[str]:
        return ("<|vision_start|>", self.VIDEO_PAD, "<|vision_end|>")

    def setup(self, config: Any, tokenizer: Any, model_dir: Path | None) -> None:
        super().setup(config, tokenizer, model_dir)
        self.video_token_id = self.token_ids[self.VIDEO_PAD]
        if getattr(config, "video_token_id", self.video_token_id) != self.video_token_id:
            raise ActbenchError(f"{model_dir}: the tokenizer's {self.VIDEO_PAD} is id {self.video_token_id} "
                                f"but the model expects {config.video_token_id}")
        extra = self.settings.extra
        self.patch = int(extra.get("patch_size", config.vision_config.patch_size))
        self.temporal = int(extra.get("temporal_patch_size", config.vision_config.temporal_patch_size))
        self.merge = int(extra.get("merge_size", config.vision_config.spatial_merge_size))

    def encode(self, frames: np.ndarray, start: float, end: float) -> Encoded:
        import torch

        s, p, t, m = self.settings, self.patch, self.temporal, self.merge
        h, w = frames.shape[1:3]
        if s.do_resize:
            h, w = smart_resize(h, w, factor=p * m, min_pixels=s.size["shortest_edge"],
                                max_pixels=s.size["longest_edge"])
        x = rescale_normalize(resize_frames(frames, h, w, s.resample), s)  # (N, C, h, w)
        if pad := -len(x) % t:  # repeat the last frame up to a whole temporal patch
            x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
        n, c = x.shape[:2]
        gt, gh, gw = n // t, h // p, w // p
        patches = x.view(gt, t, c, gh // m, m, p, gw // m, m, p)
        patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, c * t * p * p)
        spacing = (end - start) / len(frames) if end > start else 1.0 / self.DEFAULT_FPS
        tokens = gt * gh * gw // (m * m)
        text = self.placeholder.replace(self.VIDEO_PAD, self.VIDEO_PAD * tokens)
        return Encoded(text, {"pixel_values_videos": patches, "video_grid_thw": (gt, gh, gw),
                              "second_per_grid_ts": t * spacing})

    def collate(self, items: Sequence[Encoded], dtype: Any, device: Any) -> dict[str, Any]:
        import torch

        if not items:
            return {}
        return {
            "pixel_values_videos": torch.cat([i.tensors["pixel_values_videos"] for i in items]).to(
                device=device, dtype=dtype),
            "video_grid_thw": torch.tensor([i.tensors["video_grid_thw"] for i in items], device=device),
            "second_per_grid_ts": torch.tensor([i.tensors["second_per_grid_ts"] for i in items],
                                               dtype=torch.float32, device=device),
        }

    def forward_extras(self, input_ids: Any, attention_mask: Any, accepts: set[str]) -> dict[str, Any]:
        # The model builds its 3-D (time, height, width) positions itself, skipping padding through the
        # attention mask; transformers 5 finds the video tokens through mm_token_type_ids (2 = video).
        if "mm_token_type_ids" in accepts:
            return {"mm_token_type_ids": (input_ids == self.video_token_id).int() * 2}
        return {}


class InternVL(Family):
    """InternVL (native transformers): each frame at 448x448 as one tile, ``image_seq_length`` context
    tokens per frame, the video written as ``Frame1: <img>...</img>\\nFrame2: ...``."""

    model_type = "internvl"
    placeholder = "<video>"
    default_template = (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
        "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}{% elif content['type'] == 'text' %}"
        "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}")
    processor_defaults = {"size": {"height": 448, "width": 448}, "resample": 3,
                          "image_mean": (0.485, 0.456, 0.406), "image_std": (0.229, 0.224, 0.225)}
    START, END, CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"

    def required_tokens(self) -> Sequence[str]:
        return (self.placeholder, self.START, self.END, self.CONTEXT)

    def setup(self, config: Any, tokenizer: Any, model_dir: Path | None) -> None:
        super().setup(config, tokenizer, model_dir)
        if getattr(config, "image_token_id", None) not in (None, self.token_ids[self.CONTEXT]):
            raise ActbenchError(f"{model_dir}: the tokenizer's {self.CONTEXT} is id "
                                f"{self.token_ids[self.CONTEXT]} but the model expects {config.image_token_id}")
        vision = config.vision_config
        size = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) else vision.image_size
        patch = vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) else vision.patch_size
        self.tokens_per_frame = int((size // patch) ** 2 * config.downsample_ratio ** 2)

    def encode(self, frames: np.ndarray, start: float, end: float) -> Encoded:
        s = self.settings
        h, w = resize_target(frames.shape[1], frames.shape[2], s.size) if s.do_resize else frames.shape[1:3]
        pixels = rescale_normalize(resize_frames(frames, h, w, s.resample), s)
        frame = f"{self.START}{self.CONTEXT * self.tokens_per_frame}{self.END}"
        text = "\n".join(f"Frame{i + 1}: {frame}" for i in range(len(frames)))
        return Encoded(text, {"pixel_values": pixels}, group=tuple(pixels.shape[1:]))

    def collate(self, items: Sequence[Encoded], dtype: Any, device: Any) -> dict[str, Any]:
        import torch

        if not items:
            return {}
        return {"pixel_values": torch.cat([i.tensors["pixel_values"] for i in items]).to(device=device,
                                                                                          dtype=dtype)}


FAMILIES: dict[str, Family] = {f.model_type: f for f in (LlavaOneVision(), Qwen25VL(), InternVL())}


def family_for(model_type: str, where: str) -> Family:
    """A fresh family object for a checkpoint's ``model_type``."""
    if model_type not in FAMILIES:
        raise ActbenchError.bad_value(f"{where}/config.json", "model_type", " or ".join(sorted(FAMILIES)),
                                      model_type)
    return type(FAMILIES[model_type])()
