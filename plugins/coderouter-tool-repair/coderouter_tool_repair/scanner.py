"""One text block, scanned for tool calls as it streams.

Text that cannot start a call is passed on at once. From a trigger (``{``, ``[``, ``<`` that
may open a known wrapper, a backtick) the text is held by a matcher until it is decided; a
matcher holding more than ``max_hold`` characters undecided gives up and its text is relayed.
"""

from __future__ import annotations

import re

import attrs

from coderouter_tool_repair.calls import Call, ToolSet
from coderouter_tool_repair.matchers import (
    OPENERS,
    FenceMatcher,
    InlineCodeMatcher,
    JsonMatcher,
    Matcher,
    WrapperMatcher,
    function_tag_at,
)

__all__ = ["Recovered", "TextScanner"]

_TRIGGER = re.compile(r"[{\[<`]")
_ANGLE_OPENERS = tuple(op for op in OPENERS if op.startswith("<"))
_BRACKET_OPENERS = tuple(op for op in OPENERS if op.startswith("["))
CODE_CONTEXT = "=(,"
"""A JSON object right after one of these (on the same line) is code, not a call."""


@attrs.frozen
class Recovered:
    """Calls recovered from ``text`` (the span removed from the answer)."""

    calls: list[Call]
    text: str


Piece = str | Recovered


class TextScanner:
    """Feeds text in, gets relayed text and :class:`Recovered` spans out, in order."""

    __slots__ = ("_buf", "_matcher", "_max", "_prev", "_tools", "overflows")

    def __init__(self, tools: ToolSet, max_hold: int) -> None:
        self._tools = tools
        self._max = max_hold
        self._buf = ""
        self._matcher: Matcher | None = None
        self._prev = "\n"
        self.overflows = 0

    @property
    def settled(self) -> bool:
        """Nothing held and no code context (the line so far does not end in ``=``, ``(``
        or ``,``): text without a trigger that does not end in one of those either would be
        relayed as it is and leave this state as it was."""
        return not self._buf and self._matcher is None and self._prev not in CODE_CONTEXT

    def feed(self, text: str) -> list[Piece]:
        if not self._buf and self._matcher is None and _TRIGGER.search(text) is None:
            self._note(text)
            return [text] if text else []
        self._buf += text
        return self._run(final=False)

    def finish(self) -> list[Piece]:
        """End of the block: everything still held is decided."""
        return self._run(final=True)

    def _note(self, text: str) -> None:
        """Remember the last character of the current line (for the code-context rule)."""
        tail = text.rstrip(" \t")
        if tail:
            self._prev = tail[-1]

    def _text(self, out: list[Piece], text: str) -> None:
        if text:
            out.append(text)
            self._note(text)

    def _run(self, final: bool) -> list[Piece]:
        out: list[Piece] = []
        buf = self._buf
        while buf or (final and self._matcher is not None):
            if self._matcher is None:
                found = _TRIGGER.search(buf)
                if found is None:
                    self._text(out, buf)
                    buf = ""
                    break
                self._text(out, buf[: found.start()])
                buf = buf[found.start() :]
                self._matcher = self._start(buf, final)
                if self._matcher is None:
                    if not final and self._undecided_trigger(buf):
                        break
                    self._text(out, buf[0])
                    buf = buf[1:]
                    continue
            buf = self._advance(buf, final, out)
            if self._matcher is not None:
                break
        self._buf = buf
        return out

    def _advance(self, buf: str, final: bool, out: list[Piece]) -> str:
        matcher = self._matcher
        assert matcher is not None
        verdict = matcher.advance(buf, final)
        if verdict is None:
            if not matcher.doomed and matcher.pos > self._max:
                matcher.doomed = True
                self.overflows += 1
            if matcher.doomed and matcher.pos > 0:
                self._text(out, buf[: matcher.pos])
                buf = buf[matcher.pos :]
                matcher.shift(matcher.pos)
            return buf
        self._matcher = None
        if verdict.calls:
            out.append(Recovered(verdict.calls, buf[: verdict.end]))
            self._prev = "\n"
        else:
            self._text(out, buf[: verdict.end])
        return buf[verdict.end :]

    def _start(self, buf: str, final: bool) -> Matcher | None:
        """A matcher for the trigger at ``buf[0]``, or ``None`` when it is text (or, not final,
        when more text is needed to tell: see :meth:`_undecided_trigger`)."""
        char = buf[0]
        if char == "`":
            run = 1
            while run < len(buf) and buf[run] == "`":
                run += 1
            if run == len(buf) and not final:
                return None
            if run >= 3:
                return FenceMatcher(self._tools, self._max, run)
            return InlineCodeMatcher(run)
        code = self._prev in CODE_CONTEXT
        if char == "{":
            return JsonMatcher(self._tools, self._max, code_context=code)
        if char == "[":
            for opener in _BRACKET_OPENERS:
                if buf.startswith(opener):
                    return WrapperMatcher(self._tools, self._max, opener)
                if len(buf) < len(opener) and opener.startswith(buf) and not final:
                    return None
            return JsonMatcher(self._tools, self._max, code_context=code)
        for opener in _ANGLE_OPENERS:
            if buf.startswith(opener):
                return WrapperMatcher(self._tools, self._max, opener)
        if function_tag_at(buf, 0):
            return WrapperMatcher(self._tools, self._max, "")
        return None

    def _undecided_trigger(self, buf: str) -> bool:
        """``buf`` (starting at a trigger) may still become a candidate with more text."""
        if buf[0] == "`":
            return buf.count("`") == len(buf)
        if buf[0] == "[":
            return any(len(buf) < len(op) and op.startswith(buf) for op in _BRACKET_OPENERS)
        if buf[0] != "<":
            return False
        if any(len(buf) < len(op) and op.startswith(buf) for op in _ANGLE_OPENERS):
            return True
        return function_tag_at(buf, 0, partial=True)
