"""OpenAI Chat Completions as a :class:`~coderouter.wire.base.WireFormat`: the stage
modules bound by :class:`~coderouter.wire.base.StagedFormat`, and the few calls that are this
format's own."""

from __future__ import annotations

from typing import Any

from coderouter.sse import Frame
from coderouter.wire.base import StagedFormat
from coderouter.wire.openai_chat import errors, requests, requests_out, responses, validate
from coderouter.wire.openai_chat.common import NAME
from coderouter.wire.openai_chat.stream_decode import ChatStreamDecoder
from coderouter.wire.openai_chat.stream_encode import ChatStreamEncoder


class OpenAIChat(StagedFormat):
    name = NAME
    keep_envelope = staticmethod(responses.keep_envelope)
    stream_decoder = staticmethod(ChatStreamDecoder)
    stream_error = staticmethod(errors.stream_error)

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> ChatStreamEncoder:
        options = request_body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return ChatStreamEncoder(model=model, include_usage=include_usage)

    def relay_skippable(self, raw: bytes) -> bool:
        # ``find``, not ``in``: on bytes, ``in`` first tries its operand as an integer and
        # formats the TypeError it then drops, several times the cost of the search.
        return (
            raw.startswith(b"data: {")
            and raw.endswith(b"}\n\n")
            and raw.find(b'"usage"') < 0
            and raw.find(b'"error"') < 0
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


FORMAT = OpenAIChat(validate, requests, requests_out, responses, errors)
