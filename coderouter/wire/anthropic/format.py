"""Anthropic Messages as a :class:`~coderouter.wire.base.WireFormat`: the stage modules
bound by :class:`~coderouter.wire.base.StagedFormat`, and the few calls that are this format's
own."""

from __future__ import annotations

from typing import Any

from coderouter.sse import Frame
from coderouter.wire.anthropic import errors, requests, requests_out, responses, thinking, validate
from coderouter.wire.anthropic.common import NAME
from coderouter.wire.anthropic.stream_decode import AnthropicStreamDecoder
from coderouter.wire.anthropic.stream_encode import AnthropicStreamEncoder
from coderouter.wire.base import StagedFormat


class Anthropic(StagedFormat):
    name = NAME
    keep_envelope = staticmethod(responses.keep_envelope)
    stream_decoder = staticmethod(AnthropicStreamDecoder)
    stream_error = staticmethod(errors.stream_error)
    validate_count_tokens = staticmethod(validate.validate_count_tokens)
    strip_thinking = staticmethod(thinking.strip_thinking)
    is_invalid_signature_error = staticmethod(thinking.is_invalid_signature_error)
    context_overflow_message = staticmethod(errors.context_overflow_message)

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> AnthropicStreamEncoder:
        return AnthropicStreamEncoder(model=model)

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        return frame.raw

    def relay_skippable(self, raw: bytes) -> bool:
        return raw.startswith(b"event: content_block_delta\ndata: {") and raw.endswith(b"}\n\n")


FORMAT = Anthropic(validate, requests, requests_out, responses, errors)
