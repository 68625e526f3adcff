"""OpenAI Responses errors: error bodies, ``response.failed`` errors and frames, and the
message of an upstream error body."""

from __future__ import annotations

from typing import Any

from coderouter.wire.openai_chat import ERROR_TYPES
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


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(error_type, error_type),
            "param": None,
            "code": "context_length_exceeded" if error_type == "context_overflow" else None,
        }
    }


def error_message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    err = body.get("error")
    if err is None and isinstance(body.get("response"), dict):
        err = body["response"].get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])
    if isinstance(err, str):
        return err
    if isinstance(body.get("message"), str):
        return str(body["message"])
    return ""
