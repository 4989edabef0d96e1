"""What a failed msgspec conversion says, taken apart for messages a person can act on.

Settings and content packs are checked with msgspec rather than pydantic: the
bot is a long-running process with an 80 MB idle budget, and pydantic (its
Rust core and schema builder) costs about 7 MB of it where msgspec costs 1.5.
msgspec reports the first problem of a value as one sentence ending in
"- at `$.key_points[0].text`"; `Invalid` splits that into the path (for line
numbers and setting names) and the kind of problem (for wording).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import msgspec

_AT = re.compile(r"^(?P<text>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`$")
_ENUM = re.compile(r"^Invalid enum value (?P<value>.+)$")
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_EMPTY = re.compile(r"^Expected `(?:str|array)` of length >= 1$")
_PATTERN = re.compile(r"^Expected `str` matching regex ")
# msgspec names JSON's types; a YAML author thinks in these.
_PLAIN = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
          "array": "a list", "object": "a mapping", "null": "nothing"}

Kind = Literal["missing", "unknown", "enum", "other"]


@dataclass(frozen=True)
class Invalid:
    """One problem: where (`loc`, field names and list indexes from the root), what kind, and
    msgspec's own sentence without its path (`text`)."""

    loc: tuple[str | int, ...]
    kind: Kind
    text: str
    value: str = ""  # the rejected enum value, as msgspec quotes it

    @property
    def plain(self) -> str:
        """msgspec's sentence in a pack author's words where it has a usual form."""
        if _EMPTY.match(self.text):
            return "must not be empty"
        if _PATTERN.match(self.text):
            return "use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
        if kind := _TYPE.match(self.text):
            want, got = (_PLAIN.get(kind[k], kind[k]) for k in ("want", "got"))
            return f"expected {want}, got {got}"
        return self.text

    @property
    def where(self) -> str:
        """The dotted field path, list indexes left out: `key_points.text`."""
        return ".".join(str(p) for p in self.loc if not isinstance(p, int))


def explain(exc: msgspec.ValidationError) -> Invalid:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any text
    text, path = match["text"], match["path"] or ""
    loc: list[str | int] = [name or int(index) for name, index in _STEP.findall(path)]
    if field := _FIELD.match(text):
        loc.append(field["name"])
        return Invalid(tuple(loc), "missing" if "missing" in text else "unknown", text)
    if enum := _ENUM.match(text):
        return Invalid(tuple(loc), "enum", text, enum["value"])
    return Invalid(tuple(loc), "other", text)
