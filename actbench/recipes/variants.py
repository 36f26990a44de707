"""Which classifier a recipe trains: Gen, Disc, GAD and every ablation of the GAD paper, as one record.

A variant says where the learnable [CLS] token goes relative to the generation, what is generated, and
which heads read what. The named presets are the rows of the paper's tables:

=====================  =======================================================================================
name                   meaning (paper section)
=====================  =======================================================================================
gen                    generative classifier: the label as text after ``Assistant:``, LM loss (§3.2)
gen_rand               Gen with each label subword replaced by a random token, consistently across labels (§4.2)
gen_desync             Gen with every subword of every label replaced by an independent random token (§4.2)
gen_extend             Gen with one new vocabulary token per action (§4.2)
disc                   discriminative classifier: [CLS] after the inputs, linear head, CE (§3.2)
disc_no_cls            Disc reading the last visual token instead of [CLS] ("w/o [CLS]", B.4)
gad                    [CLS], then generation of "label, previous action"; CE + lambda * LM (§3.2)
gad_label_joint        GAD generating only the label (Tab. 4 "label_joint")
gad_label_2stage       Gen first, then everything frozen but [CLS] and the head (Tab. 4 "label_2stage")
gad_next / gad_past    GAD generating "label, next action" / "label, the past actions of the window" (B.4)
gad_sep                GAD generating only the previous action (B.4 "GAD_sep")
gad_seq_g              generation first, [CLS] after it (B.2 "GAD_seq-g"); generates only the label
gad_parallel           two branches sharing the inputs, not conditioned on each other (B.2); label only
gad_prev_disc          Disc + a second head on [CLS] classifying the previous action (B.4)
gad_prev_disc_plus     Disc + a second learnable token whose head classifies the previous action (B.4)
gad_no_cls             GAD with the head on the last visual token
=====================  =======================================================================================

>>> v = variant("gad")
>>> v.kind, v.order, v.target, v.uses_cls, v.generates
('gad', 'disc_first', 'label_prev', True, True)
>>> variant("gad_prev_disc_plus").cls_tokens
2
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from actbench.errors import ActbenchError
from actbench.registry import suggestion

Kind = Literal["gen", "disc", "gad"]
Order = Literal["disc_first", "gen_first", "parallel"]
# What the generation branch writes: the label, the label and some context, or the context alone.
Target = Literal["label", "label_prev", "label_next", "label_past", "prev"]
Mapping_ = Literal["text", "rand", "desync", "extend"]
PrevHead = Literal["none", "shared", "own_token"]


class Variant(BaseModel):
    """One classifier design; recipes name a preset and may override fields (``--set variant.lam=0.5``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    order: Order = "disc_first"
    target: Target = "label"
    label_mapping: Mapping_ = "text"
    uses_cls: bool = True
    two_stage: bool = False
    prev_head: PrevHead = "none"
    lam: float = 1.0  # weight of the LM loss in GAD: loss = CE + lam * LM

    @model_validator(mode="after")
    def _consistent(self) -> "Variant":
        if self.kind != "gen" and self.label_mapping != "text":
            raise ValueError("label_mapping other than 'text' is a Gen ablation (gen_rand, gen_desync, gen_extend)")
        if self.label_mapping != "text" and self.target != "label":
            raise ValueError("random or extended label tokens only replace the label itself (target = 'label')")
        if self.kind == "gen" and (self.target != "label" or self.prev_head != "none" or self.two_stage):
            raise ValueError("Gen generates the label only, with no heads")
        if self.kind == "disc" and self.two_stage:
            raise ValueError("two_stage needs a generation branch (kind = 'gad')")
        if self.order == "parallel" and not self.uses_cls:
            raise ValueError("the parallel branches need [CLS]")
        if self.lam < 0:
            raise ValueError("lam must be >= 0")
        return self

    @property
    def generates(self) -> bool:
        """Whether training has an LM loss (Gen and GAD)."""
        return self.kind != "disc"

    @property
    def classifies(self) -> bool:
        """Whether the model has class heads (Disc and GAD)."""
        return self.kind != "gen"

    @property
    def cls_tokens(self) -> int:
        if not self.classifies or not self.uses_cls:
            return 0
        return 2 if self.prev_head == "own_token" else 1

    @property
    def label_in_target(self) -> bool:
        return self.target != "prev"


PRESETS: dict[str, dict] = {
    "gen": {"kind": "gen"},
    "gen_rand": {"kind": "gen", "label_mapping": "rand"},
    "gen_desync": {"kind": "gen", "label_mapping": "desync"},
    "gen_extend": {"kind": "gen", "label_mapping": "extend"},
    "disc": {"kind": "disc"},
    "disc_no_cls": {"kind": "disc", "uses_cls": False},
    "gad": {"kind": "gad", "target": "label_prev"},
    "gad_label_joint": {"kind": "gad", "target": "label"},
    "gad_label_2stage": {"kind": "gad", "target": "label", "two_stage": True},
    "gad_next": {"kind": "gad", "target": "label_next"},
    "gad_past": {"kind": "gad", "target": "label_past"},
    "gad_sep": {"kind": "gad", "target": "prev"},
    "gad_seq_g": {"kind": "gad", "order": "gen_first", "target": "label"},
    "gad_parallel": {"kind": "gad", "order": "parallel", "target": "label"},
    "gad_prev_disc": {"kind": "disc", "prev_head": "shared"},
    "gad_prev_disc_plus": {"kind": "disc", "prev_head": "own_token"},
    "gad_no_cls": {"kind": "gad", "target": "label_prev", "uses_cls": False},
}


def variant(name: str, **overrides) -> Variant:
    """The preset ``name`` with ``overrides`` applied (a bad combination is a one-line error)."""
    if name not in PRESETS:
        raise ActbenchError(f"unknown classifier variant {name!r}{suggestion(name, list(PRESETS))} "
                            f"(known: {', '.join(PRESETS)})")
    try:
        return Variant(**{**PRESETS[name], **overrides})
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        first = error.errors()[0] if hasattr(error, "errors") else {"msg": str(error), "loc": ()}
        message = first["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in first["loc"])
        raise ActbenchError(f"variant {name!r}: " + (f"field '{field}': {message}" if field else message)) from None
