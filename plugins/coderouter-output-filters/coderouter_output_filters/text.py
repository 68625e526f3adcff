"""Incremental removal of reasoning tags and chat-template markers from answer text.

A :class:`TextFilter` sees one text block in pieces of any size. Text that cannot be the start
of a tag or marker is passed on at once; a possible start (``<|im_e``) is held until the next
piece decides it, or until :meth:`TextFilter.finish`. The decisions depend only on the text, never
on where it was split, so a stream and the same answer in one piece come out identical.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import attrs

__all__ = [
    "DEFAULT_STOP_MARKERS",
    "SPAN_LIMIT",
    "THINK_TAGS",
    "Patterns",
    "TextFilter",
    "compile_patterns",
]

THINK_TAGS: tuple[tuple[str, str], ...] = (("<think>", "</think>"), ("<thinking>", "</thinking>"))

DEFAULT_STOP_MARKERS: tuple[str, ...] = (
    "<|im_end|>",
    "<|im_start|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<|turn|>",
    "<|python_tag|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|begin_of_text|>",
    "<|channel|>…<|message|>",
    "<|start|>…<|message|>",
    "<|start_header_id|>…<|end_header_id|>",
    "<|message|>",
    "<|return|>",
    "<|call|>",
    "<|assistant|>",
    "<|user|>",
    "<end_of_turn>",
    "<start_of_turn>",
    "</s>",
)
"""Markers removed by default. ``A…B`` removes ``A``, whatever follows up to and including the
next ``B`` (when ``B`` starts within :data:`SPAN_LIMIT` characters), e.g.
``<|channel|>analysis<|message|>``."""

SPAN_SEPARATOR = "…"
SPAN_LIMIT = 256
"""How far after a span's opening marker its closing marker may start; further away, only the
opening marker is removed (a channel or role name is short; an answer is not)."""

DROP, THINK, SPAN = 0, 1, 2
_TEXT_MODE, _THINK_MODE, _SPAN_MODE = 0, 1, 2


@attrs.frozen
class Patterns:
    """Everything the filter looks for, grouped by the first two characters for fast lookup."""

    kinds: dict[str, tuple[int, str]]
    by_head: dict[str, tuple[str, ...]]
    first_chars: frozenset[str]
    trigger: re.Pattern[str] | None
    single: str

    @property
    def empty(self) -> bool:
        return not self.kinds


def compile_patterns(*, strip_thinking: bool, stop_markers: Iterable[str]) -> Patterns:
    """Build the lookup tables. Markers shorter than two characters raise ``ValueError``."""
    kinds: dict[str, tuple[int, str]] = {}
    if strip_thinking:
        for open_tag, close_tag in THINK_TAGS:
            kinds[open_tag] = (THINK, close_tag)
            kinds[close_tag] = (DROP, "")
    for marker in stop_markers:
        opening, sep, closing = marker.partition(SPAN_SEPARATOR)
        if len(opening) < 2 or (sep and not closing):
            raise ValueError(
                f"stop marker {marker!r}: a marker needs at least two characters, and "
                f"'A{SPAN_SEPARATOR}B' needs both A and B"
            )
        kinds.setdefault(opening, (SPAN, closing) if sep else (DROP, ""))
    heads: dict[str, list[str]] = {}
    for pattern in kinds:
        heads.setdefault(pattern[:2], []).append(pattern)
    by_head = {h: tuple(sorted(p, key=len, reverse=True)) for h, p in heads.items()}
    first = frozenset(p[0] for p in kinds)
    single = next(iter(first)) if len(first) == 1 else ""
    trigger = None if len(first) <= 1 else re.compile("[" + re.escape("".join(sorted(first))) + "]")
    return Patterns(kinds, by_head, first, trigger, single)


def _partial_suffix(text: str, start: int, tag: str) -> int:
    """Length of the longest suffix of ``text[start:]`` that is a proper prefix of ``tag``."""
    longest = min(len(tag) - 1, len(text) - start)
    for size in range(longest, 0, -1):
        if tag.startswith(text[len(text) - size :]):
            return size
    return 0


class TextFilter:
    """Removes think blocks and markers from one text block, fed piece by piece.

    ``counts`` tallies what was removed (``think_blocks``, ``markers``).
    """

    __slots__ = (
        "_close",
        "_lead",
        "_lead_ws",
        "_mode",
        "_pending",
        "_skip_ws",
        "counts",
        "patterns",
    )

    def __init__(self, patterns: Patterns, counts: Counter[str] | None = None) -> None:
        self.patterns = patterns
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self._pending = ""
        self._mode = _TEXT_MODE
        self._close = ""
        self._skip_ws = False
        self._lead = True
        self._lead_ws = ""

    def feed(self, text: str) -> str:
        """The part of the text so far that is decided, with tags and markers removed."""
        if self._idle() and self._find(text, 0) < 0:
            return text
        self._pending += text
        return self._run(final=False)

    def finish(self) -> str:
        """End of the block: held text that is not a whole marker is released; an unclosed
        think block is dropped."""
        out = self._run(final=True)
        if self._lead and self._lead_ws:
            out += self._lead_ws
        self._lead_ws = ""
        return out

    @property
    def idle(self) -> bool:
        """Nothing held and no state that could change the next piece."""
        return self._idle()

    def _idle(self) -> bool:
        """Nothing held and no state that could change the next piece."""
        return (
            not self._pending and self._mode == _TEXT_MODE and not self._skip_ws and not self._lead
        )

    # --- scanning ------------------------------------------------------------------------------

    def _find(self, text: str, start: int) -> int:
        patterns = self.patterns
        if patterns.single:
            return text.find(patterns.single, start)
        if patterns.trigger is None:
            return -1
        found = patterns.trigger.search(text, start)
        return -1 if found is None else found.start()

    def _match(self, text: str, at: int, final: bool) -> str | None:
        """The longest pattern at ``at``; ``""`` when more text is needed to decide."""
        group = self.patterns.by_head.get(text[at : at + 2])
        if group is None:
            if at + 1 >= len(text) and not final:
                return ""
            return None
        available = len(text) - at
        for pattern in group:
            if text.startswith(pattern, at):
                return pattern
            if not final and available < len(pattern) and pattern.startswith(text[at:]):
                return ""
        return None

    def _run(self, final: bool) -> str:
        text = self._pending
        out: list[str] = []
        i = 0
        while i < len(text):
            if self._mode == _THINK_MODE:
                i = self._in_think(text, i, final)
            elif self._mode == _SPAN_MODE:
                i = self._in_span(text, i, final)
            else:
                i = self._in_text(text, i, final, out)
            if i < 0:
                i = -i - 1
                break
        self._pending = text[i:]
        return self._emit(out)

    def _in_text(self, text: str, i: int, final: bool, out: list[str]) -> int:
        """Scan plain text from ``i``; returns the next position, or ``-pos - 1`` to hold
        ``text[pos:]``."""
        if self._skip_ws:
            while i < len(text) and text[i].isspace():
                i += 1
            if i == len(text):
                return i
            self._skip_ws = False
        j = self._find(text, i)
        if j < 0:
            out.append(text[i:])
            return len(text)
        if j > i:
            out.append(text[i:j])
        pattern = self._match(text, j, final)
        if pattern == "":
            return -j - 1
        if pattern is None:
            out.append(text[j])
            return j + 1
        kind, close = self.patterns.kinds[pattern]
        if kind == THINK:
            self.counts["think_blocks"] += 1
            self._mode, self._close = _THINK_MODE, close
            if self._lead and all(not piece.strip() for piece in out):
                # Whitespace before a think block that opens the answer goes with it.
                out.clear()
                self._lead_ws = ""
        elif kind == SPAN:
            self.counts["markers"] += 1
            self._mode, self._close = _SPAN_MODE, close
        else:
            self.counts["markers"] += 1
        return j + len(pattern)

    def _in_think(self, text: str, i: int, final: bool) -> int:
        k = text.find(self._close, i)
        if k >= 0:
            self._mode = _TEXT_MODE
            self._skip_ws = True
            return k + len(self._close)
        if final:
            return len(text)
        keep = _partial_suffix(text, i, self._close)
        return -(len(text) - keep) - 1

    def _in_span(self, text: str, i: int, final: bool) -> int:
        close = self._close
        k = text.find(close, i)
        if 0 <= k <= i + SPAN_LIMIT:
            self._mode = _TEXT_MODE
            return k + len(close)
        if k < 0 and not final and len(text) < i + SPAN_LIMIT + len(close):
            return -i - 1
        self._mode = _TEXT_MODE
        return i

    def _emit(self, out: list[str]) -> str:
        text = "".join(out)
        if not self._lead or not text:
            return text
        if not text.strip():
            self._lead_ws += text
            return ""
        self._lead = False
        text, self._lead_ws = self._lead_ws + text, ""
        return text
