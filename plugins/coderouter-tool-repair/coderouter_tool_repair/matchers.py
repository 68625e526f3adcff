"""Candidates: text that may be a tool call, recognised incrementally.

A matcher starts at a trigger character (``{``, ``[``, ``<`` or a backtick) and is asked again
with more text each time the stream brings some. It answers ``None`` (more text needed) or a
:class:`Verdict`: the first ``end`` characters are either recovered calls or plain text.

Every answer depends only on the text, never on how it was split. A matcher can be *doomed*
(its text is known to be text, but its end is not known yet): the scanner then relays what the
matcher has consumed (``pos``) right away and drops it with :meth:`Matcher.shift`, while the
matcher keeps tracking the structure to find where the span ends.
"""

from __future__ import annotations

import re

import attrs

from coderouter_tool_repair.calls import (
    Call,
    ToolSet,
    call_from_function_form,
    calls_from_json,
)
from coderouter_tool_repair.jsonscan import JsonTracker, json_head, skip_space

__all__ = [
    "FENCE_LANGUAGES",
    "OPENERS",
    "FenceMatcher",
    "InlineCodeMatcher",
    "JsonMatcher",
    "Matcher",
    "Verdict",
    "WrapperMatcher",
    "function_tag_at",
]

OPENERS: dict[str, tuple[str, ...]] = {
    "<tool_call>": ("</tool_call>",),
    "<tool_calls>": ("</tool_calls>",),
    "<function_call>": ("</function_call>",),
    "<function_calls>": ("</function_calls>",),
    "<functioncall>": ("</functioncall>",),
    "<tool_use>": ("</tool_use>",),
    "<|tool_call|>": (
        "<|/tool_call|>",
        "</|tool_call|>",
        "<|tool_call_end|>",
        "<|end_tool_call|>",
        "</tool_call>",
    ),
    "<|tool_calls|>": ("<|/tool_calls|>", "</|tool_calls|>", "<|tool_calls_end|>"),
    "<|tool_call_start|>": ("<|tool_call_end|>",),
    "<|python_tag|>": (),
    "[TOOL_CALLS]": (),
}
"""Wrappers around calls, each with the closing tags it accepts (a missing close is tolerated:
models often stop right before it)."""

FENCE_LANGUAGES = frozenset(
    {
        "",
        "json",
        "jsonc",
        "json5",
        "jsonl",
        "tool_call",
        "tool_calls",
        "tool_code",
        "tool_use",
        "tool",
        "tools",
        "function_call",
        "function",
        "functions",
    }
)
"""Fence info strings whose content may be calls; any other language is a code sample."""

FUNCTION_OPEN = "<function="
FUNCTION_CLOSE = "</function>"
_FUNCTION_TAG = re.compile(r"<function=([A-Za-z0-9_.:\-]+)>")
_FUNCTION_PARTIAL = re.compile(r"<function=[A-Za-z0-9_.:\-]*\Z")
MAX_INFO_CHARS = 40


@attrs.frozen
class Verdict:
    """The first ``end`` characters are decided: ``calls`` recovered, or text when ``None``."""

    end: int
    calls: list[Call] | None = None


class Matcher:
    """Base of all matchers: ``pos`` counts characters certainly inside the span."""

    __slots__ = ("doomed", "pos")

    def __init__(self) -> None:
        self.pos = 0
        self.doomed = False

    def advance(self, buf: str, final: bool) -> Verdict | None:
        raise NotImplementedError

    def shift(self, n: int) -> None:
        """The first ``n`` characters were relayed and removed from the buffer."""
        self.pos -= n


class JsonMatcher(Matcher):
    """A bare JSON object (or array of objects) in prose."""

    __slots__ = ("_checked", "_code", "_max", "_tools", "_tracker")

    def __init__(self, tools: ToolSet, max_hold: int, *, code_context: bool) -> None:
        super().__init__()
        self._tools = tools
        self._max = max_hold
        self._tracker = JsonTracker()
        self._checked = False
        self._code = code_context

    def advance(self, buf: str, final: bool) -> Verdict | None:
        if not self._checked:
            head = json_head(buf, 0, final)
            if head == "need":
                return None
            if head == "char":
                return Verdict(1)
            self._checked = True
            self.doomed = head == "value" or self._code
        end = self._tracker.scan(buf, self.pos)
        if end < 0:
            self.pos = len(buf)
            return Verdict(len(buf)) if final else None
        self.pos = end
        if self.doomed or end > self._max:
            return Verdict(end)
        calls = calls_from_json(buf[:end], self._tools)
        return Verdict(end, calls)


class InlineCodeMatcher(Matcher):
    """An inline code span (one or two backticks): text, never scanned for calls. It ends at
    the next backtick run or at the end of the line."""

    __slots__ = ()

    def __init__(self, run: int) -> None:
        super().__init__()
        self.pos = run
        self.doomed = True

    def advance(self, buf: str, final: bool) -> Verdict | None:
        i = self.pos
        while i < len(buf) and buf[i] not in "`\n":
            i += 1
        if i == len(buf):
            self.pos = i
            return Verdict(i) if final else None
        if buf[i] == "\n":
            return Verdict(i + 1)
        run = _run_length(buf, i)
        if i + run == len(buf) and not final:
            self.pos = i
            return None
        return Verdict(i + run)


def _run_length(buf: str, i: int) -> int:
    j = i
    while j < len(buf) and buf[j] == "`":
        j += 1
    return j - i


class FenceMatcher(Matcher):
    """A fenced block. With a call-like language and content made only of JSON values, the
    values are parsed as calls; anything else makes the fence a code sample (plain text up to
    its closing fence)."""

    __slots__ = ("_item_start", "_items", "_max", "_plain", "_run", "_stage", "_tools", "_tracker")

    def __init__(self, tools: ToolSet, max_hold: int, run: int) -> None:
        super().__init__()
        self._tools = tools
        self._max = max_hold
        self._run = run
        self.pos = run
        self._stage = "info"
        self._plain = False
        self._tracker: JsonTracker | None = None
        self._item_start = 0
        self._items: list[tuple[int, int]] = []

    def shift(self, n: int) -> None:
        super().shift(n)
        self._item_start -= n
        self._items = []

    def _become_plain(self, buf: str, at: int, final: bool) -> Verdict | None:
        self._plain = True
        self.doomed = True
        self.pos = at
        return self._advance_plain(buf, final)

    def advance(self, buf: str, final: bool) -> Verdict | None:
        if self._stage == "info":
            newline = buf.find("\n", self._run)
            if newline < 0 and len(buf) - self._run <= MAX_INFO_CHARS:
                return Verdict(len(buf)) if final else None
            self._stage = "body"
            if newline < 0 or newline - self._run > MAX_INFO_CHARS:
                # No info line: three backticks inside a line, text up to the next run.
                return self._become_plain(buf, self._run, final)
            self.pos = newline + 1
            if buf[self._run : newline].strip().lower() not in FENCE_LANGUAGES:
                return self._become_plain(buf, newline + 1, final)
        if self._plain:
            return self._advance_plain(buf, final)
        return self._advance_items(buf, final)

    def _advance_plain(self, buf: str, final: bool) -> Verdict | None:
        i = self.pos
        while True:
            tick = buf.find("`", i)
            if tick < 0:
                self.pos = len(buf)
                return Verdict(len(buf)) if final else None
            run = _run_length(buf, tick)
            if tick + run == len(buf) and not final:
                self.pos = tick
                return None
            if run >= self._run:
                return Verdict(tick + run)
            i = tick + run

    def _advance_items(self, buf: str, final: bool) -> Verdict | None:
        while True:
            if self._tracker is not None:
                end = self._tracker.scan(buf, self.pos)
                if end < 0:
                    self.pos = len(buf)
                    return Verdict(len(buf)) if final else None
                self._items.append((self._item_start, end))
                self._tracker = None
                self.pos = end
            j = skip_space(buf, self.pos)
            if j == len(buf):
                return self._decide(buf, len(buf)) if final else None
            char = buf[j]
            if char == "`":
                run = _run_length(buf, j)
                if j + run == len(buf) and not final:
                    return None
                if run >= self._run:
                    return self._decide(buf, j + run)
                return self._become_plain(buf, j, final)
            if char not in "{[":
                return self._become_plain(buf, j, final)
            head = json_head(buf, j, final)
            if head == "need":
                return None
            if head != "ok":
                return self._become_plain(buf, j, final)
            self._item_start = j
            self._tracker = JsonTracker()
            self.pos = j

    def _decide(self, buf: str, end: int) -> Verdict:
        if self.doomed or end > self._max or not self._items:
            return Verdict(end)
        calls: list[Call] = []
        for start, stop in self._items:
            found = calls_from_json(buf[start:stop], self._tools)
            if found is None:
                return Verdict(end)
            calls += found
        return Verdict(end, calls)


def function_tag_at(buf: str, i: int, *, partial: bool = False) -> bool:
    """A whole ``<function=NAME>`` tag at ``buf[i]`` (or, with ``partial``, the start of one
    reaching the end of ``buf``)."""
    if _FUNCTION_TAG.match(buf, i) is not None:
        return True
    if not partial:
        return False
    rest = buf[i:]
    return FUNCTION_OPEN.startswith(rest) or _FUNCTION_PARTIAL.match(buf, i) is not None


class _Go:
    """Returned by a matcher step that made progress and wants the loop to go on."""


GO = _Go()


def _is_prefix(buf: str, i: int, words: tuple[str, ...]) -> bool:
    """``buf[i:]`` is a proper prefix of one of ``words``."""
    rest = buf[i:]
    return any(len(rest) < len(w) and w.startswith(rest) for w in words)


class WrapperMatcher(Matcher):
    """Calls inside a wrapper (``<tool_call>...</tool_call>``, ``[TOOL_CALLS]...``) or written
    as ``<function=NAME>...</function>``: one or more items, then an optional closing tag."""

    __slots__ = (
        "_closes",
        "_func",
        "_item_start",
        "_items",
        "_last",
        "_max",
        "_opener",
        "_tools",
        "_tracker",
    )

    def __init__(self, tools: ToolSet, max_hold: int, opener: str) -> None:
        super().__init__()
        self._tools = tools
        self._max = max_hold
        self._opener = opener
        self._closes = OPENERS.get(opener, ())
        self.pos = self._last = len(opener)
        self._tracker: JsonTracker | None = None
        self._func: str | None = None
        self._item_start = 0
        self._items: list[tuple[str | None, int, int]] = []

    def shift(self, n: int) -> None:
        super().shift(n)
        self._last -= n
        self._item_start -= n
        self._items = []

    def _finish_item(self, buf: str, final: bool) -> Verdict | _Go | None:
        """Advance the open item; :data:`GO` when it ended (or none was open)."""
        if self._tracker is not None:
            end = self._tracker.scan(buf, self.pos)
            if end < 0:
                self.pos = len(buf)
                return self._end(buf, len(buf)) if final else None
            self._items.append((None, self._item_start, end))
            self._tracker = None
            self.pos = self._last = end
        elif self._func is not None:
            close = buf.find(FUNCTION_CLOSE, self.pos)
            if close < 0:
                self.pos = max(self.pos, len(buf) - len(FUNCTION_CLOSE) + 1)
                return self._end(buf, len(buf)) if final else None
            self._items.append((self._func, self._item_start, close))
            self._func = None
            self.pos = self._last = close + len(FUNCTION_CLOSE)
        return GO

    def advance(self, buf: str, final: bool) -> Verdict | None:
        while True:
            done = self._finish_item(buf, final)
            if not isinstance(done, _Go):
                return done
            j = skip_space(buf, self.pos)
            if j == len(buf):
                return self._end(buf, self._last) if final else None
            for close in self._closes:
                if buf.startswith(close, j):
                    return self._end(buf, j + len(close))
            if not final and _is_prefix(buf, j, (*self._closes, FUNCTION_OPEN)):
                return None
            started = self._start_item(buf, j, final)
            if not isinstance(started, _Go):
                return started

    def _start_item(self, buf: str, j: int, final: bool) -> Verdict | _Go | None:
        tag = _FUNCTION_TAG.match(buf, j)
        if tag is not None:
            self._func = tag.group(1)
            self._item_start = self.pos = tag.end()
            return GO
        if buf[j] in "{[":
            head = json_head(buf, j, final)
            if head == "need":
                return None
            if head == "ok":
                self._item_start = self.pos = j
                self._tracker = JsonTracker()
                return GO
        elif not final and _FUNCTION_PARTIAL.match(buf, j):
            return None
        return self._end(buf, self._last)

    def _end(self, buf: str, end: int) -> Verdict:
        if not self._items and not self.doomed:
            # Nothing call-like inside: the opener alone is text, the rest is scanned again.
            return Verdict(len(self._opener) or end)
        if self.doomed or end > self._max:
            return Verdict(end)
        calls: list[Call] = []
        for func, start, stop in self._items:
            if func is None:
                found = calls_from_json(buf[start:stop], self._tools)
            else:
                call = call_from_function_form(func, buf[start:stop], self._tools)
                found = None if call is None else [call]
            if found is None:
                return Verdict(end)
            calls += found
        return Verdict(end, calls)
