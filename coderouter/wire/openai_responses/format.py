"""OpenAI Responses as a :class:`~coderouter.wire.base.WireFormat`: the stage
modules bound by :class:`~coderouter.wire.base.StagedFormat`, and the few calls that are this
format's own."""

from __future__ import annotations

from typing import Any

from coderouter.sse import Frame
from coderouter.wire.base import StagedFormat
from coderouter.wire.openai_responses import (
    errors,
    requests,
    requests_out,
    responses,
    stream_encode,
    validate,
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


class OpenAIResponses(StagedFormat):
    name = NAME
    keep_envelope = staticmethod(responses.keep_envelope)
    stream_decoder = staticmethod(ResponsesStreamDecoder)
    stream_error = staticmethod(stream_encode.stream_error)

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> ResponsesStreamEncoder:
        return ResponsesStreamEncoder(model=model, request_body=request_body)

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        return frame.raw

    def relay_skippable(self, raw: bytes) -> bool:
        return raw.startswith(_DELTA_EVENTS) and raw.endswith(b"}\n\n")


FORMAT = OpenAIResponses(validate, requests, requests_out, responses, errors)
