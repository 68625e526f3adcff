"""Chat Completions error bodies, in a response and as a stream frame."""

from __future__ import annotations

from typing import Any

from coderouter.wire.openai_chat.common import dumps

ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "context_overflow": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "budget": "insufficient_quota",
    "overloaded": "server_error",
    "api_error": "upstream_error",
    "timeout": "timeout_error",
}


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(error_type, error_type),
            "param": None,
            "code": "context_length_exceeded" if error_type == "context_overflow" else None,
        }
    }


def stream_error(error_type: str, message: str) -> bytes:
    return f"data: {dumps(error_body(error_type, message))}\n\n".encode()


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""
