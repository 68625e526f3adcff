"""Context overflow: the wordings with which servers say a prompt does not fit, in one table.

llama.cpp (``exceed_context_size_error``, ``n_prompt_tokens`` / ``n_ctx``), llama-cpp-python
and vLLM (OpenAI's "maximum context length is N tokens"), Ollama ("input length exceeds the
context length"), LM Studio ("context length of only N tokens"), OpenAI
(``context_length_exceeded``), Anthropic ("prompt is too long: N tokens > M maximum") and Gemini
("input token count (N) exceeds the maximum number of tokens allowed (M)"). A strong pattern
decides alone; a weak one needs a word of excess or numbers that show it.
"""

from __future__ import annotations

import re

__all__ = ["is_context_overflow", "overflow_numbers"]

_OVERFLOW_STRONG = re.compile(
    r"context[_ ]length[_ ]exceeded|exceed_context_size|model_context_window_exceeded|"
    r"maximum (?:context|model) length|prompt is too long|prompt too long|"
    r"reduce the length of the messages",
    re.IGNORECASE,
)
_OVERFLOW_WEAK = re.compile(
    r"context (?:length|size|window)|(?:prompt|input)\b[^.]{0,40}\btoo long|too many tokens|"
    r"maximum number of tokens",
    re.IGNORECASE,
)
_EXCEEDS = re.compile(
    r"exceed|too long|too large|too many|greater than|longer than|overflow|not enough",
    re.IGNORECASE,
)
_NUM = r"(\d[\d,]*)"
_OVERFLOW_TOTAL = (re.compile(rf"{_NUM} tokens? > {_NUM}", re.IGNORECASE),)
_OVERFLOW_PROMPT = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"you requested {_NUM} tokens",
        rf"resulted in {_NUM} tokens",
        rf"request \({_NUM} tokens\)",
        rf"prompt \((?:total )?length {_NUM}\)",
        rf"prompt \({_NUM} tokens\)",
        rf"input token count \({_NUM}\)",
        rf"prompt has {_NUM} tokens",
        rf"keep the first {_NUM} tokens",
        rf"input \({_NUM} tokens\)",
        rf"\"n_prompt_tokens\"\s*:\s*{_NUM}",
    )
)
_OVERFLOW_LIMIT = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"maximum context length (?:is|of) {_NUM}",
        rf"maximum model length (?:is|of) {_NUM}",
        rf"context size \({_NUM} tokens\)",
        rf"context size is {_NUM}",
        rf"context length {_NUM}",
        rf"context length of only {_NUM}",
        rf"context length \({_NUM} tokens\)",
        rf"context window of {_NUM}",
        rf"limit of {_NUM}",
        rf"tokens allowed \({_NUM}\)",
        rf"\"n_ctx\"\s*:\s*{_NUM}",
    )
)
_OVERFLOW_IN_MESSAGES = (re.compile(rf"\({_NUM} in the messages", re.IGNORECASE),)
_OVERFLOW_INPUT_PLUS_OUTPUT = re.compile(
    rf"too large: {_NUM}.*?request has {_NUM} input tokens", re.IGNORECASE | re.DOTALL
)


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found.group(1).replace(",", ""))
    return None


def overflow_numbers(text: str) -> tuple[int | None, int | None]:
    """(request tokens, context limit) as far as ``text`` tells them. Where the server splits
    the request ("N tokens (P in the messages, C in the completion)") and the prompt alone does
    not fit, the request is the prompt: that is what a client must shorten, and what
    Anthropic's own "prompt is too long" counts."""
    found = _OVERFLOW_TOTAL[0].search(text)
    if found:
        return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))
    prompt = _first_number(_OVERFLOW_PROMPT, text)
    if prompt is None:
        both = _OVERFLOW_INPUT_PLUS_OUTPUT.search(text)
        if both:
            prompt = int(both.group(1).replace(",", "")) + int(both.group(2).replace(",", ""))
    limit = _first_number(_OVERFLOW_LIMIT, text)
    in_messages = _first_number(_OVERFLOW_IN_MESSAGES, text)
    if in_messages is not None and limit is not None and in_messages > limit:
        prompt = in_messages
    return prompt, limit


def is_context_overflow(text: str) -> bool:
    """Whether an upstream error text (message and raw body) says the prompt is too long."""
    if _OVERFLOW_STRONG.search(text) is not None:
        return True
    if _OVERFLOW_WEAK.search(text) is None:
        return False
    if _EXCEEDS.search(text) is not None:
        return True
    prompt, limit = overflow_numbers(text)
    return prompt is not None and limit is not None and prompt > limit
