"""When two texts "read the same": equal after lower-casing and turning punctuation into spaces.

One definition for the builder (no two options may read the same) and the answer parser (an echoed
option text), so the two never disagree.

>>> normalise("  Put-down  the plate. ")
'put down the plate'
"""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()
