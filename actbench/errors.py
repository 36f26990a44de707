"""The one exception users see.

An :class:`ActbenchError` is a problem with the user's input or environment, not a bug: the CLI prints
its message as a single line and exits with code 2, without a traceback. Every message names where the
problem is (file and field), what was expected and what was found, so it can be fixed without reading
code.

>>> str(ActbenchError.bad_value("q.jsonl:3", "answer_index", "an integer in [0, 5)", 7))
"q.jsonl:3: field 'answer_index': expected an integer in [0, 5), found 7"
"""

from __future__ import annotations

EXIT_USER_ERROR = 2
_MAX_FOUND = 120


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(value: object) -> str:
    """A short, single-line rendering of a found value for an error message."""
    text = _one_line(value if isinstance(value, str) and value else repr(value))
    return text if len(text) <= _MAX_FOUND else text[: _MAX_FOUND - 3] + "..."


class ActbenchError(Exception):
    """A user-facing error: one line, exit code 2, no traceback."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str):
        super().__init__(_one_line(message))

    @classmethod
    def bad_value(cls, where: object, field: str, expected: str, found: object) -> "ActbenchError":
        """The standard message: ``WHERE: field 'F': expected E, found X``."""
        return cls(f"{where}: field '{field}': expected {expected}, found {describe(found)}")

    @classmethod
    def from_validation(cls, where: object, error: Exception, what: str) -> "ActbenchError":
        """The first problem of a pydantic ``ValidationError`` as the standard message.

        ``what`` names the whole record (used when the problem is not one field, e.g. invalid JSON).
        """
        first = error.errors()[0]  # type: ignore[attr-defined]
        field = ".".join(str(p) for p in first["loc"]) or what
        problem = first["msg"].lower().rstrip(".")
        if first["type"] == "extra_forbidden":
            return cls.bad_value(where, field, "no such field (it is not part of the format)", first.get("input"))
        if first["type"] == "missing":
            return cls.bad_value(where, field, "a value (the field is required)", "none")
        if first["type"] == "json_invalid":
            return cls.bad_value(where, what, "valid JSON", problem)
        return cls.bad_value(where, field, f"a value that passes: {problem}", first.get("input"))
