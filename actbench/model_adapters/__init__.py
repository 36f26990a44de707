"""Model adapters: everything that answers multiple-choice questions, behind one protocol.

The registry maps a model name to a factory ``factory(ctx: AdapterContext) -> ModelAdapter``; modules
are imported only when their model is used, so ``actbench list`` and ``--help`` need no torch.
Third-party adapters register through the ``actbench.models`` entry-point group.
"""

from actbench.registry import Registry

MODELS = Registry("model", entry_point_group="actbench.models")
MODELS.register("random", "actbench.model_adapters.baselines:random_adapter",
                summary="a uniformly random valid letter per question (seeded): the chance row")
MODELS.register("always-a", "actbench.model_adapters.baselines:always_a_adapter",
                summary="always answers A: a check of letter balance")
MODELS.register("oracle", "actbench.model_adapters.baselines:oracle_adapter",
                summary="reads the answer key: the ceiling row and a test of the pipeline")
MODELS.register("prior", "actbench.model_adapters.prior_adapter:prior_adapter",
                summary="the video-free sequence model of actions, choosing the most likely option")
# API models (the [api] extra): the key comes from the environment only.
MODELS.register("gpt-4o", "actbench.model_adapters.openai_api:gpt_4o_adapter",
                summary="GPT-4o through the OpenAI API (key from OPENAI_API_KEY), frames as JPEG, costed [api]")
MODELS.register("gpt-4o-mini", "actbench.model_adapters.openai_api:gpt_4o_mini_adapter",
                summary="GPT-4o-mini through the OpenAI API (key from OPENAI_API_KEY), costed [api]")
MODELS.register("openai", "actbench.model_adapters.openai_api:openai_adapter",
                summary="any chat-completions server: --model openai:NAME --base-url URL (vLLM, SGLang, llama.cpp) [api]")
# Local video MLLMs through transformers (the [hf] extra); weights from the local HF cache or model_path.
MODELS.register("llava-onevision-0.5b", "actbench.model_adapters.hf_video_mllm:llava_onevision_0_5b_adapter",
                summary="LLaVA-OneVision 0.5B (llava-hf/llava-onevision-qwen2-0.5b-ov-hf), local, transformers [hf]")
MODELS.register("llava-onevision-7b", "actbench.model_adapters.hf_video_mllm:llava_onevision_7b_adapter",
                summary="LLaVA-OneVision 7B (llava-hf/llava-onevision-qwen2-7b-ov-hf), local, transformers [hf]")
MODELS.register("llava-video-7b", "actbench.model_adapters.hf_video_mllm:llava_video_7b_adapter",
                summary="LLaVA-Video 7B (llava-hf/LLaVA-Video-7B-Qwen2-hf), local, transformers [hf]")
MODELS.register("qwen2.5-vl-7b", "actbench.model_adapters.hf_video_mllm:qwen2_5_vl_7b_adapter",
                summary="Qwen2.5-VL 7B Instruct (Qwen/Qwen2.5-VL-7B-Instruct), local, transformers [hf]")
MODELS.register("internvl3-8b", "actbench.model_adapters.hf_video_mllm:internvl3_8b_adapter",
                summary="InternVL3 8B (OpenGVLab/InternVL3-8B-hf), local, transformers [hf]")
MODELS.register("smollm2-135m-blind", "actbench.model_adapters.blind_lm:smollm2_blind_adapter",
                summary="the real SmolLM2-135M-Instruct from the question text alone (no frames): the language-prior row [hf]")
MODELS.register("llavaction-action-token", "actbench.model_adapters.action_token_adapter:action_token_adapter",
                summary="a LLaVAction action-token checkpoint (--model-arg checkpoint=DIR from actbench train), local [hf]")
