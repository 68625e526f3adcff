"""OpenAI Chat Completions as a :class:`~coderouter.wire.base.WireFormat`: one object that hands
each call to the stage module doing the work."""

from __future__ import annotations

from typing import Any

from coderouter.sse import Frame
from coderouter.wire.model import Event, Request, Usage
from coderouter.wire.openai_chat import errors, requests, requests_out, responses
from coderouter.wire.openai_chat.common import NAME
from coderouter.wire.openai_chat.stream_decode import ChatStreamDecoder
from coderouter.wire.openai_chat.stream_encode import ChatStreamEncoder


class OpenAIChat:
    name = NAME

    # --- requests ----------------------------------------------------------------------------

    def validate_request(self, body: dict[str, Any]) -> None:
        requests.validate_request(body)

    def decode_request(self, body: dict[str, Any]) -> Request:
        return requests.decode_request(body)

    def encode_request(self, request: Request, *, model: str, stream: bool) -> dict[str, Any]:
        return requests_out.encode_request(request, model=model, stream=stream)

    def passthrough_request(
        self,
        body: dict[str, Any],
        *,
        model: str,
        stream: bool,
        notes: list[str],
        max_tokens: int | None,
    ) -> dict[str, Any]:
        return requests_out.passthrough_request(
            body, model=model, stream=stream, notes=notes, max_tokens=max_tokens
        )

    # --- responses ---------------------------------------------------------------------------

    def usage_of(self, body: dict[str, Any]) -> Usage:
        return responses.usage_of(body)

    def decode_response(self, body: dict[str, Any]) -> list[Event]:
        return responses.decode_response(body)

    def encode_response(
        self, events: list[Event], *, model: str, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return responses.encode_response(events, model=model, request_body=request_body)

    # --- streams -----------------------------------------------------------------------------

    def stream_decoder(self) -> ChatStreamDecoder:
        return ChatStreamDecoder()

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> ChatStreamEncoder:
        options = request_body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return ChatStreamEncoder(model=model, include_usage=include_usage)

    def relay_skippable(self, raw: bytes) -> bool:
        return (
            raw.startswith(b"data: {")
            and raw.endswith(b"}\n\n")
            and b'"usage"' not in raw
            and b'"error"' not in raw
            and raw.count(b'"finish_reason"')
            == raw.count(b'"finish_reason":null') + raw.count(b'"finish_reason": null')
        )

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        data = frame.data
        if '"usage"' in data and ('"choices":[]' in data or '"choices": []' in data):
            options = request_body.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                return b""
        return frame.raw

    # --- errors ------------------------------------------------------------------------------

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return errors.error_body(error_type, message)

    def stream_error(self, error_type: str, message: str) -> bytes:
        return errors.stream_error(error_type, message)

    def error_message(self, body: Any) -> str:
        return errors.error_message(body)


FORMAT = OpenAIChat()
