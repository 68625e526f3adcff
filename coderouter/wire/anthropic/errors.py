"""Anthropic Messages errors: error bodies and stream frames, the message of an upstream error
body, and the context-overflow wording Claude Code parses."""

from __future__ import annotations

import re
from typing import Any

from coderouter.wire.anthropic.common import dumps, sse_frame

ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "budget": "rate_limit_error",
    "overloaded": "overloaded_error",
    "api_error": "api_error",
    "timeout": "api_error",
}
"""Wire-neutral error types (see :data:`coderouter.wire.base.ERROR_STATUS`) -> Anthropic's."""
ERROR_TYPES_IN: dict[str, str] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "overloaded_error": "overloaded",
    "api_error": "api_error",
    "timeout_error": "timeout",
}


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(error_type, "api_error"), "message": message},
    }


def stream_error(error_type: str, message: str) -> bytes:
    return sse_frame("error", error_body(error_type, message))


def error_message(body: Any) -> str:
    """The message of an Anthropic- or OpenAI-shaped error body (and of the common
    variants: a bare string, ``message`` or ``detail`` at the top, a relayed raw body)."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    err = body.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        message = str(err["message"])
        metadata = err.get("metadata")
        raw = metadata.get("raw") if isinstance(metadata, dict) else None
        return f"{message}: {raw}" if isinstance(raw, str) and raw else message
    if isinstance(err, str):
        return err
    for key in ("message", "detail"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return ""


# --- context overflow -----------------------------------------------------------------------

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
_EXCEEDS = re.compile(r"exceed|too long|too large|too many|greater than|longer than", re.IGNORECASE)
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
        rf"context length \({_NUM} tokens\)",
        rf"context window of {_NUM}",
        rf"limit of {_NUM}",
        rf"tokens allowed \({_NUM}\)",
        rf"\"n_ctx\"\s*:\s*{_NUM}",
    )
)
_OVERFLOW_INPUT_PLUS_OUTPUT = re.compile(
    rf"too large: {_NUM}.*?request has {_NUM} input tokens", re.IGNORECASE | re.DOTALL
)


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found.group(1).replace(",", ""))
    return None


def _overflow_numbers(text: str) -> tuple[int | None, int | None]:
    """(request tokens, context limit) as far as ``text`` tells them."""
    found = _OVERFLOW_TOTAL[0].search(text)
    if found:
        return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))
    prompt = _first_number(_OVERFLOW_PROMPT, text)
    if prompt is None:
        both = _OVERFLOW_INPUT_PLUS_OUTPUT.search(text)
        if both:
            prompt = int(both.group(1).replace(",", "")) + int(both.group(2).replace(",", ""))
    return prompt, _first_number(_OVERFLOW_LIMIT, text)


def context_overflow_message(
    message: str, *, body: Any = None, request_tokens: int | None = None
) -> str | None:
    """Claude Code's parseable ``prompt is too long: N tokens > M maximum`` for an upstream
    context-overflow error (OpenAI, vLLM, llama.cpp, Ollama, Gemini wordings), else None.

    ``body`` is the upstream error body when available (llama.cpp puts ``n_prompt_tokens`` and
    ``n_ctx`` beside the message); ``request_tokens`` is the router's estimate of the request,
    used when the upstream names no request size. N is always greater than M.
    """
    raw = body if isinstance(body, str) else dumps(body) if body is not None else ""
    text = f"{message}\n{raw}" if raw else message
    strong = _OVERFLOW_STRONG.search(text) is not None
    if not strong and _OVERFLOW_WEAK.search(text) is None:
        return None
    prompt, limit = _overflow_numbers(text)
    if (
        not strong
        and _EXCEEDS.search(text) is None
        and not (prompt is not None and limit is not None and prompt > limit)
    ):
        return None
    if prompt is None and request_tokens:
        prompt = request_tokens
    if limit is None:
        limit = max(0, (prompt or 1) - 1)
    if prompt is None or prompt <= limit:
        prompt = limit + 1
    return f"prompt is too long: {prompt} tokens > {limit} maximum"
