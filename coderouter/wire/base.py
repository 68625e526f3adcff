"""The interface every wire-format module implements, and the error vocabulary they share."""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from coderouter.sse import Frame
from coderouter.wire.effort import ThinkingSupport
from coderouter.wire.model import Event, Request, Response, Usage

__all__ = [
    "ERROR_STATUS",
    "ErrorStage",
    "PassthroughEdits",
    "RequestOutStage",
    "RequestStage",
    "ResponseStage",
    "StagedFormat",
    "StreamDecoder",
    "StreamEncoder",
    "ValidateStage",
    "WireFormat",
]

ERROR_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "context_overflow": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "budget": 429,
    "api_error": 502,
    "timeout": 504,
    "overloaded": 529,
}
"""Wire-neutral error types and the status the router answers them with."""


def error_type_for_status(status: int) -> str:
    """The wire-neutral error type of an upstream HTTP status."""
    return {
        400: "invalid_request",
        401: "authentication",
        403: "permission",
        404: "not_found",
        413: "request_too_large",
        429: "rate_limit",
        529: "overloaded",
        503: "overloaded",
    }.get(status, "invalid_request" if 400 <= status < 500 else "api_error")


@attrs.define(slots=True)
class PassthroughEdits:
    """What a same-format pass-through changes in the client's body: the upstream ``model``,
    whether the answer streams, ``notes`` plugins add to the instructions, and a ``max_tokens``
    ceiling (``None``: the client's own limit stands)."""

    model: str
    stream: bool
    notes: list[str]
    max_tokens: int | None


class StreamDecoder(Protocol):
    """Turns one provider's SSE frames into internal events."""

    @property
    def complete(self) -> bool:
        """True once the stream's proper end was seen (a cut stream never gets here)."""
        ...

    def feed(self, frame: Frame) -> list[Event]: ...

    def finish(self) -> list[Event]:
        """The upstream body ended: events that close a stream whose end is implied (or none;
        the host then checks :attr:`complete`)."""
        ...


class StreamEncoder(Protocol):
    """Turns internal events into one ingress format's SSE bytes."""

    def encode(self, events: list[Event]) -> bytes: ...


class ValidateStage(Protocol):
    """A format's ``validate`` stage: the shape checks of client bodies."""

    def validate_request(self, body: dict[str, Any]) -> None:
        """Cheap shape checks run on every request (raise ``ValueError``)."""
        ...


class RequestStage(Protocol):
    """A format's ``requests`` stage: client bodies in."""

    def decode_request(self, body: dict[str, Any], *, checked: bool = False) -> Request:
        """Client body -> internal request. Raises ``ValueError`` with a precise message for
        a body that is well-formed JSON but not a valid request; ``checked``: the body passed
        ``validate_request`` already (the ingress checks every body), so it is not checked
        again."""
        ...


class RequestOutStage(Protocol):
    """A format's ``requests_out`` stage: upstream bodies out."""

    def encode_request(
        self,
        request: Request,
        *,
        model: str,
        stream: bool,
        thinking: ThinkingSupport | None = None,
    ) -> dict[str, Any]:
        """Internal request -> this format's upstream body. ``thinking`` says what the target
        model can do with the request's thinking setting (``None``: unknown)."""
        ...

    def passthrough_request(self, body: dict[str, Any], edits: PassthroughEdits) -> dict[str, Any]:
        """Same format in and out: the client's body with ``model`` replaced (and the few
        edits plugins asked for), every other field untouched."""
        ...


class ResponseStage(Protocol):
    """A format's ``responses`` stage: whole answers and their usage."""

    def decode_response(self, body: dict[str, Any]) -> list[Event]: ...

    def encode_response(
        self, events: list[Event], *, model: str, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Events -> this format's whole response. ``request_body`` is the client's request,
        for formats whose answer echoes parts of it."""
        ...

    def encode_folded(
        self, response: Response, *, model: str, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The same from the events already folded (:func:`~coderouter.wire.model.accumulate`)."""
        ...

    def usage_of(self, body: dict[str, Any]) -> Usage: ...


class ErrorStage(Protocol):
    """A format's ``errors`` stage: error bodies both ways."""

    def error_body(self, error_type: str, message: str) -> dict[str, Any]: ...

    def error_message(self, body: Any) -> str:
        """The human message inside an upstream error body of this format."""
        ...


class WireFormat(ValidateStage, RequestStage, RequestOutStage, ResponseStage, ErrorStage, Protocol):
    """One wire format: requests, responses, streams and errors, both directions."""

    name: str

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, *, model: str, request_body: dict[str, Any]) -> StreamEncoder: ...

    def relay_frame(self, frame: Frame, request_body: dict[str, Any]) -> bytes:
        """Bytes to send for an unchanged frame in a same-format stream (usually
        ``frame.raw``)."""
        ...

    def relay_skippable(self, raw: bytes) -> bool:
        """Whether a same-format relay, once committed, may pass this frame's bytes on without
        decoding it: true only for frames that carry nothing but content deltas (no usage,
        stop reason or error), whose decoding could change nothing the router records. Decided
        on the raw bytes, so it errs towards decoding."""
        ...

    def stream_error(self, error_type: str, message: str) -> bytes: ...


class StagedFormat:
    """A format object built from its stage modules: each protocol method is the stage
    module's own function, bound once here (no delegating call per request). A format's class
    adds what is its own: ``name``, the stream decoder and encoder, the relay checks and
    ``stream_error``."""

    def __init__(
        self,
        validate: ValidateStage,
        requests: RequestStage,
        requests_out: RequestOutStage,
        responses: ResponseStage,
        errors: ErrorStage,
    ) -> None:
        self.decode_request = requests.decode_request
        self.validate_request = validate.validate_request
        self.encode_request = requests_out.encode_request
        self.passthrough_request = requests_out.passthrough_request
        self.decode_response = responses.decode_response
        self.encode_response = responses.encode_response
        self.encode_folded = responses.encode_folded
        self.usage_of = responses.usage_of
        self.error_body = errors.error_body
        self.error_message = errors.error_message
