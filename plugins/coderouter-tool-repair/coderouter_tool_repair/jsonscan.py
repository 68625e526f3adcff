"""Where a JSON value written in text ends, and whether its start looks like a call.

Both work on text that arrives in pieces: :class:`JsonTracker` keeps its state between pieces,
and :func:`json_head` answers ``"need"`` until it has seen enough.
"""

from __future__ import annotations

import re
from typing import Literal

from coderouter_tool_repair.calls import CALL_KEYS

__all__ = ["Head", "JsonTracker", "json_head", "skip_space"]

_STRUCTURAL = re.compile(r'[{}\[\]"]')
_IN_STRING = re.compile(r'["\\]')
_NOT_SPACE = re.compile(r"\S")
MAX_KEY_CHARS = 48
"""A first key longer than this is not one a call starts with."""


Head = Literal["need", "ok", "value", "char"]


def skip_space(buf: str, i: int) -> int:
    found = _NOT_SPACE.search(buf, i)
    return len(buf) if found is None else found.start()


def json_head(buf: str, i: int, final: bool) -> Head:
    """How the JSON value opening at ``buf[i]`` starts.

    ``ok``: an object whose first key may belong to a call (or an array of such objects);
    ``value``: JSON-looking data, never a call (its whole extent is text); ``char``: not JSON at
    all (only the opening character is text); ``need``: more text is needed.
    """
    j = skip_space(buf, i + 1)
    if buf[i] == "[":
        if j == len(buf):
            return "char" if final else "need"
        if buf[j] != "{":
            return "char"
        head = json_head(buf, j, final)
        return "value" if head == "char" else head
    if j == len(buf):
        return "char" if final else "need"
    if buf[j] != '"':
        return "char"
    k = buf.find('"', j + 1)
    if k < 0:
        if final or len(buf) - j > MAX_KEY_CHARS:
            return "value"
        return "need"
    key = buf[j + 1 : k]
    colon = skip_space(buf, k + 1)
    if colon == len(buf):
        return "value" if final else "need"
    if buf[colon] != ":" or "\\" in key:
        return "char"
    return "ok" if key in CALL_KEYS else "value"


class JsonTracker:
    """Finds where a JSON object or array ends, fed in pieces (strings and escapes aware;
    brackets are counted, not validated)."""

    __slots__ = ("depth", "escape", "in_string")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escape = False

    def scan(self, text: str, i: int) -> int:
        """Consume ``text[i:]``; the index just past the value's end, or -1 when it goes on."""
        n = len(text)
        while i < n:
            if self.escape:
                self.escape = False
                i += 1
            elif self.in_string:
                found = _IN_STRING.search(text, i)
                if found is None:
                    return -1
                i = found.end()
                if text[i - 1] == "\\":
                    self.escape = True
                else:
                    self.in_string = False
            else:
                found = _STRUCTURAL.search(text, i)
                if found is None:
                    return -1
                i = found.end()
                char = text[i - 1]
                if char == '"':
                    self.in_string = True
                elif char in "{[":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth <= 0:
                        return i
        return -1
