"""Anthropic Messages errors: error bodies and stream frames, the message of an upstream error
body, and the context-overflow wording Claude Code parses."""

from __future__ import annotations

from typing import Any

from coderouter.wire import overflow
from coderouter.wire.anthropic.common import dumps, sse_frame

ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "context_overflow": "invalid_request_error",
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
    if not overflow.is_context_overflow(text):
        return None
    prompt, limit = overflow.overflow_numbers(text)
    if prompt is None and request_tokens:
        prompt = request_tokens
    if limit is None:
        limit = max(0, (prompt or 1) - 1)
    if prompt is None or prompt <= limit:
        prompt = limit + 1
    return f"prompt is too long: {prompt} tokens > {limit} maximum"
