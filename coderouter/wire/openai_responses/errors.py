"""OpenAI Responses errors: error bodies, ``response.failed`` errors and frames, and the
message of an upstream error body.

A Responses error body outside a stream has the Chat Completions shape, so that format's
``error_body`` serves here too."""

from __future__ import annotations

from typing import Any

from coderouter.wire.openai_chat.errors import error_body as error_body
from coderouter.wire.openai_chat.errors import error_message as chat_error_message
from coderouter.wire.openai_responses.common import sse_frame

_FAILED_CODES = {
    "rate_limit": "rate_limit_exceeded",
    "budget": "insufficient_quota",
    "invalid_request": "invalid_prompt",
    "context_overflow": "context_length_exceeded",
    "request_too_large": "invalid_prompt",
}
"""Wire-neutral error type -> ``response.failed`` error code (others: ``server_error``)."""
_CODE_ERRORS = {
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "invalid_prompt": "invalid_request",
    "context_length_exceeded": "invalid_request",
    "server_is_overloaded": "overloaded",
    "slow_down": "overloaded",
}
"""Upstream ``response.failed`` code -> wire-neutral error type (others: ``api_error``)."""


def failed_error(error_type: str, message: str) -> dict[str, Any]:
    return {"code": _FAILED_CODES.get(error_type, "server_error"), "message": message}


def error_type_of(code: Any) -> str:
    return _CODE_ERRORS.get(str(code), "api_error")


def failed_frame(obj: dict[str, Any], error: dict[str, Any], sequence: int) -> str:
    """``response.failed``; the error is repeated at the top level, where the openai SDK looks
    for it (codex reads ``response.error``)."""
    obj["status"] = "failed"
    obj["error"] = error
    return sse_frame("response.failed", {"response": obj, "error": error}, sequence)


def error_message(body: Any) -> str:
    """The message of an upstream error body: the Chat Completions shape, or a
    ``response.failed`` body whose error sits under ``response``."""
    if (
        isinstance(body, dict)
        and body.get("error") is None
        and isinstance(body.get("response"), dict)
    ):
        body = {**body, "error": body["response"].get("error")}
    return chat_error_message(body)
