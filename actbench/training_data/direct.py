"""Direct prediction (LLaVAction §3.2, prompt of Appendix C.4): name the action in a short sentence.

The target is the clip's narration, or its class label (``"verb noun"``) where the annotation files
carry no narration for the clip (see :mod:`actbench.training_data.build`).

>>> direct_conversation("open drawer")[1]
{'from': 'gpt', 'value': 'open drawer'}
"""

from __future__ import annotations

TASK = "direct_prediction"
PROMPT = "What action are you performing? Give a short sentence such as 'move knife'."


def direct_conversation(action_text: str) -> list[dict]:
    return [{"from": "human", "value": f"<video>\n{PROMPT}"}, {"from": "gpt", "value": action_text}]
