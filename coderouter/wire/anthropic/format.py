"""Anthropic Messages as a :class:`~coderouter.wire.base.WireFormat`: one object that hands
each call to the stage module doing the work."""

from __future__ import annotations

from typing import Any

from coderouter.sse import Frame
from coderouter.wire.anthropic import errors, requests, requests_out, responses, thinking
from coderouter.wire.anthropic.common import NAME
from coderouter.wire.anthropic.stream_decode import AnthropicStreamDecoder
from coderouter.wire.anthropic.stream_encode import AnthropicStreamEncoder
from coderouter.wire.model import Event, Request, Usage


class Anthropic:
    name = NAME

    # --- requests ----------------------------------------------------------------------------

    def validate_request(self, body: dict[str, Any]) -> None:
        requests.validate_request(body)

    def validate_count_tokens(self, body: dict[str, Any]) -> None:
        requests.validate_count_tokens(body)

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

    def strip_thinking(self, body: dict[str, Any]) -> dict[str, Any]:
        return thinking.strip_thinking(body)

    def is_invalid_signature_error(self, status: int, message: str) -> bool:
        return thinking.is_invalid_signature_error(status, message)

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

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(model=model)

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        return frame.raw

    def relay_skippable(self, raw: bytes) -> bool:
        return raw.startswith(b"event: content_block_delta\ndata: {") and raw.endswith(b"}\n\n")

    # --- errors ------------------------------------------------------------------------------

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return errors.error_body(error_type, message)

    def stream_error(self, error_type: str, message: str) -> bytes:
        return errors.stream_error(error_type, message)

    def error_message(self, body: Any) -> str:
        return errors.error_message(body)

    def context_overflow_message(
        self, message: str, *, body: Any = None, request_tokens: int | None = None
    ) -> str | None:
        return errors.context_overflow_message(message, body=body, request_tokens=request_tokens)


FORMAT = Anthropic()
