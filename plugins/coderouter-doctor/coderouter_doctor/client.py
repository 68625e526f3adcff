"""Requests to one provider the way the router sends them: the internal request encoded by the
provider's wire format, sent by :class:`coderouter.upstream.Upstream`, the answer decoded back
into internal events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from coderouter.config import ProviderConfig
from coderouter.sse import Frame, SSEParser
from coderouter.types import UpstreamError
from coderouter.upstream import Upstream
from coderouter.wire import PROVIDER_WIRE, wire_format
from coderouter.wire.model import (
    BlockStart,
    Event,
    Request,
    Response,
    SignatureDelta,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    accumulate,
)

__all__ = ["MAX_STREAM_BYTES", "ProbeClient", "Reply", "user_request"]

MAX_STREAM_BYTES = 4 * 1024 * 1024
"""A probe's stream is read up to this much; the rest is not needed to judge it."""


@attrs.frozen
class Reply:
    """One answer. ``body`` is the JSON of a whole answer; ``frames`` the SSE frames of a
    stream, ``complete`` whether it ended properly, ``done_marker`` whether it ended with
    ``data: [DONE]``, ``cut`` why the connection broke off, if it did, and ``stopped_early``
    whether the probe stopped reading it (past ``max_text_chars``). ``ttft_s`` is the time to
    the first content event."""

    response: Response
    events: list[Event]
    elapsed_s: float
    ttft_s: float | None = None
    body: dict[str, Any] | None = None
    frames: list[Frame] = attrs.Factory(list)
    complete: bool = True
    done_marker: bool = False
    cut: str = ""
    stopped_early: bool = False

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.response.content if b.get("type") == "text")

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.response.content if b.get("type") == kind]


def _is_token(event: Event) -> bool:
    """The first token: text, thinking, a signature, tool arguments or a tool call's start."""
    if isinstance(event, TextDelta):
        return bool(event.text)
    if isinstance(event, BlockStart):
        return event.block.get("type") == "tool_use"
    return isinstance(event, ThinkingDelta | SignatureDelta | ToolArgsDelta)


def user_request(text: str, *, max_tokens: int | None = 64, **fields: Any) -> Request:
    """A one-turn internal request."""
    return Request(
        model="",
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        max_tokens=max_tokens,
        **fields,
    )


class ProbeClient:
    """Sends probe requests to ``provider`` through ``upstream``."""

    def __init__(
        self, upstream: Upstream, provider: ProviderConfig, clock: Callable[[], float]
    ) -> None:
        self.upstream = upstream
        self.provider = provider
        self.clock = clock
        self.wire = wire_format(PROVIDER_WIRE[provider.kind])

    @property
    def model(self) -> str:
        """The model sent upstream: the provider's own; a provider that takes the client's
        model gets ``default``."""
        return self.provider.model_for("default")

    def _body(self, request: Request, stream: bool) -> bytes:
        if request.max_tokens is None and self.provider.kind == "anthropic":
            request = attrs.evolve(request, max_tokens=1024)
        body = self.wire.encode_request(request, model=self.model, stream=stream)
        return json.dumps(body, ensure_ascii=False).encode()

    async def send(self, request: Request) -> Reply:
        """A whole (non-stream) answer; failures raise :class:`UpstreamError`."""
        started = self.clock()
        response = await self.upstream.open(
            self.provider, self._body(request, False), {}, stream=False
        )
        _, data = await self.upstream.read_json(response)
        events = self.wire.decode_response(data)
        elapsed = self.clock() - started
        return Reply(accumulate(events), events, elapsed, elapsed, body=data)

    async def stream(self, request: Request, *, max_text_chars: int | None = None) -> Reply:
        """A streamed answer, read until it ends, :data:`MAX_STREAM_BYTES` or
        ``max_text_chars`` of answer text. A stream that breaks off comes back with
        ``complete`` false (the probe judges it); an error before any byte raises
        :class:`UpstreamError`."""
        started = self.clock()
        response = await self.upstream.open(
            self.provider, self._body(request, True), {}, stream=True
        )
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            _, data = await self.upstream.read_json(response)
            whole = self.wire.decode_response(data)
            elapsed = self.clock() - started
            return Reply(accumulate(whole), whole, elapsed, elapsed, body=data)
        parser = SSEParser()
        decoder = self.wire.stream_decoder()
        events: list[Event] = []
        frames: list[Frame] = []
        first: float | None = None
        received = chars = 0
        cut = ""
        limit = max_text_chars if max_text_chars is not None else MAX_STREAM_BYTES
        stopped = False
        try:
            async for chunk in self.upstream.iter_bytes(response):
                received += len(chunk)
                for frame in parser.feed(chunk):
                    frames.append(frame)
                    decoded = decoder.feed(frame)
                    if first is None and any(_is_token(e) for e in decoded):
                        first = self.clock()
                    chars += sum(len(e.text) for e in decoded if isinstance(e, TextDelta))
                    events += decoded
                if received > MAX_STREAM_BYTES or chars > limit:
                    stopped = not decoder.complete
                    break
        except UpstreamError as err:
            cut = err.message
        finally:
            await response.aclose()
        for frame in parser.flush():
            frames.append(frame)
            events += decoder.feed(frame)
        events += decoder.finish()
        return Reply(
            accumulate(events),
            events,
            self.clock() - started,
            None if first is None else first - started,
            frames=frames,
            complete=decoder.complete,
            done_marker=any(f.data.strip() == "[DONE]" for f in frames),
            cut=cut,
            stopped_early=stopped,
        )
