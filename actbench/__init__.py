"""actbench: benchmarks and evaluation for action understanding with multimodal LLMs."""

__version__ = "0.1.0"
