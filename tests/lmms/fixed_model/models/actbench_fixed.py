"""A model for lmms-eval that answers each question with a reply fixed in advance.

``--model actbench_fixed --model_args replies=R.json,seen=S.jsonl``: ``R.json`` maps a question id to the
reply text; for every request the model asks the task for the doc's visuals (as a real model does) and
appends what it was given to ``S.jsonl``: the question id, the prompt, and each visual (an image's size,
or a path string), so a test can check what lmms-eval handed over.
"""

from __future__ import annotations

import json

from lmms_eval.api.model import lmms


class FixedResponses(lmms):
    def __init__(self, replies: str, seen: str, **kwargs) -> None:
        super().__init__()
        with open(replies, encoding="utf-8") as handle:
            self.replies = json.load(handle)
        self.seen = seen

    def generate_until(self, requests) -> list[str]:
        out = []
        with open(self.seen, "a", encoding="utf-8") as log:
            for request in requests:
                context, _gen_kwargs, doc_to_visual, doc_id, task, split = request.args
                doc = self.task_dict[task][split][doc_id]
                visuals = [list(v.size) if hasattr(v, "size") else v for v in doc_to_visual(doc)]
                log.write(json.dumps({"id": doc["id"], "doc_id": doc_id, "prompt": context, "visuals": visuals}) + "\n")
                out.append(self.replies[doc["id"]])
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError("actbench_fixed only generates")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("actbench_fixed only generates")
