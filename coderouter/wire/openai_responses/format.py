"""OpenAI Responses as a :class:`~coderouter.wire.base.WireFormat`: one object that hands each
call to the stage module doing the work."""

from __future__ import annotations

from typing import Any

from coderouter.sse import Frame
from coderouter.wire.model import Event, Request, Usage
from coderouter.wire.openai_responses import (
    errors,
    requests,
    requests_out,
    responses,
    stream_encode,
)
from coderouter.wire.openai_responses.common import NAME
from coderouter.wire.openai_responses.stream_decode import ResponsesStreamDecoder
from coderouter.wire.openai_responses.stream_encode import ResponsesStreamEncoder

_DELTA_EVENTS = (
    b"event: response.output_text.delta\ndata: {",
    b"event: response.function_call_arguments.delta\ndata: {",
    b"event: response.reasoning_summary_text.delta\ndata: {",
)
"""Events that carry only content; usage, status and errors come in other events."""


class OpenAIResponses:
    name = NAME

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
        self,
        events: list[Event],
        *,
        model: str,
        request_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return responses.encode_response(events, model=model, request_body=request_body)

    # --- streams -----------------------------------------------------------------------------

    def stream_decoder(self) -> ResponsesStreamDecoder:
        return ResponsesStreamDecoder()

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(model=model, request_body=request_body)

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        return frame.raw

    def relay_skippable(self, raw: bytes) -> bool:
        return raw.startswith(_DELTA_EVENTS) and raw.endswith(b"}\n\n")

    # --- errors ------------------------------------------------------------------------------

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return errors.error_body(error_type, message)

    def stream_error(self, error_type: str, message: str) -> bytes:
        return stream_encode.stream_error(error_type, message)

    def error_message(self, body: Any) -> str:
        return errors.error_message(body)


FORMAT = OpenAIResponses()
