"""One attempt's response path: upstream bytes -> events -> transforms -> client bytes.

The commit rule lives here: :attr:`Pipeline.committed` turns true at the first real content
event; until then the router may still move on to another provider and nothing has reached the
client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from coderouter.redact import redact
from coderouter.sse import DEFAULT_MAX_EVENT_BYTES, Frame, SSEError, SSEParser, parse_frame
from coderouter.types import StreamTransform, UpstreamError, Usage
from coderouter.wire.base import StreamDecoder, StreamEncoder, WireFormat
from coderouter.wire.model import (
    BlockStart,
    Event,
    MessageDelta,
    MessageStart,
    SignatureDelta,
    StreamError,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from coderouter.wire.overflow import is_context_overflow

if TYPE_CHECKING:
    from coderouter.resume import ToolHolder

__all__ = ["Pipeline", "flush_transforms", "is_commit_event", "run_transforms"]

RETRYABLE_STREAM_ERRORS = frozenset({"overloaded", "api_error", "rate_limit", "timeout"})


def is_commit_event(event: Event) -> bool:
    """Real content: text, thinking, a signature, tool arguments or the start of a tool call."""
    if isinstance(event, TextDelta):
        return bool(event.text)
    if isinstance(event, ThinkingDelta | SignatureDelta | ToolArgsDelta):
        return True
    return isinstance(event, BlockStart) and event.block.get("type") == "tool_use"


def collect_transforms(answers: list[Any]) -> list[StreamTransform]:
    """The ``stream_transforms`` hook's answers as one list: each plugin answers with one
    transform, a list of them, or ``None``."""
    found: list[StreamTransform] = []
    for item in answers:
        if item is None:
            continue
        if isinstance(item, list | tuple):
            found.extend(item)
        else:
            found.append(item)
    return found


def transforms_pass(transforms: Sequence[StreamTransform], raw: bytes) -> bool:
    """Every transform vouches (``passes``) that it would leave this answer unchanged."""
    for transform in transforms:
        passes = getattr(transform, "passes", None)
        if passes is None or not passes(raw):
            return False
    return True


def run_transforms(transforms: Sequence[StreamTransform], events: list[Event]) -> list[Event]:
    for transform in transforms:
        fed: list[Event] = []
        for event in events:
            fed.extend(transform.feed(event))
        events = fed
    return events


def flush_transforms(transforms: Sequence[StreamTransform]) -> list[Event]:
    """What every transform held back, each flush passed through the transforms after it."""
    events: list[Event] = []
    for transform in transforms:
        fed: list[Event] = []
        for event in events:
            fed.extend(transform.feed(event))
        fed.extend(transform.flush())
        events = fed
    return events


RawCheck = Callable[[bytes], bool]
TextCheck = Callable[[int, bytes], bool]
FindText = Callable[[bytes], "tuple[int, bytes] | None"]


def _undecoded_checks(
    transforms: Sequence[StreamTransform],
) -> tuple[tuple[RawCheck, ...], tuple[TextCheck, ...]] | None:
    """Every transform's vouchers that it leaves a content frame unchanged: ``passes`` (on
    the frame's bytes) and ``passes_text`` (on the text's JSON string literal and its block).
    ``None`` when a transform has neither: every frame is decoded for it."""
    raw: list[RawCheck] = []
    text: list[TextCheck] = []
    for transform in transforms:
        on_raw = getattr(transform, "passes", None)
        on_text = getattr(transform, "passes_text", None)
        if on_raw is None and on_text is None:
            return None
        if on_raw is not None:
            raw.append(on_raw)
        if on_text is not None:
            text.append(on_text)
    return tuple(raw), tuple(text)


def _text_passes(checks: tuple[TextCheck, ...], found: tuple[int, bytes] | None) -> bool:
    if found is None:
        return False
    for check in checks:  # noqa: SIM110 - once per frame, no generator
        if not check(*found):
            return False
    return True


def _all_pass(checks: tuple[RawCheck, ...], raw: bytes) -> bool:
    # Runs once per frame: a plain loop, not all() over a generator.
    if len(checks) == 1:
        return checks[0](raw)
    for check in checks:  # noqa: SIM110
        if not check(raw):
            return False
    return True


def stream_error_to_upstream(event: StreamError, *, committed: bool) -> UpstreamError:
    overflow = event.error_type == "invalid_request" and is_context_overflow(event.message)
    return UpstreamError(
        "status" if event.error_type == "invalid_request" else "stream_cut",
        f"{event.error_type}: {event.message}",
        retryable=overflow or event.error_type in RETRYABLE_STREAM_ERRORS,
        committed=committed,
        context_overflow=overflow,
    )


class Pipeline:
    """Converts one upstream stream into the client's wire format, frame by frame.

    With the same wire format on both sides and no transforms, frames are relayed byte for
    byte, decoded only to watch for content, usage and errors; once committed, frames that
    carry only content deltas (:meth:`WireFormat.relay_skippable`) are not decoded at all.

    ``encoder`` replaces the target's own (a resumed stream's stitcher; no byte relay then);
    ``holder`` holds tool calls back until complete. With :attr:`hold_errors` set, an error
    event after commit is recorded in :attr:`error` but not passed to the client (the router
    may still continue the answer elsewhere).
    """

    def __init__(
        self,
        *,
        source: WireFormat,
        target: WireFormat,
        transforms: Sequence[StreamTransform],
        request_body: dict[str, Any],
        model: str,
        input_estimate: Callable[[], int | None] | None = None,
        encoder: StreamEncoder | None = None,
        holder: ToolHolder | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.source = source
        self.target = target
        self.transforms = transforms
        self.request_body = request_body
        self.relay = source.name == target.name and not transforms and encoder is None
        self.parser = SSEParser(max_event_bytes)
        self.decoder: StreamDecoder = source.stream_decoder()
        # Same format with transforms: content frames every transform lets through
        # unchanged (``passes`` on the frame, ``passes_text`` on its text) are relayed
        # undecoded, and re-encoded frames keep the upstream's ids and fields (the encoder
        # follows the decoder).
        self._passes: tuple[RawCheck, ...] | None = None
        # Translating: a chunk that only adds text (and that every transform would leave
        # unchanged) is carried over as the JSON string the upstream wrote, without decoding
        # and re-encoding it.
        self._literal: tuple[FindText, Callable[[int, bytes], Any]] | None = None
        self._literal_checks: tuple[RawCheck, ...] = ()
        self._text_checks: tuple[TextCheck, ...] = ()
        self._find: FindText | None = None
        if encoder is None and not self.relay:
            encoder = target.stream_encoder(model=model, request_body=request_body)
            find: FindText | None = getattr(self.decoder, "text_literal", None)
            checks = None if holder is not None else _undecoded_checks(transforms)
            if checks is not None and checks[1] and find is None:
                checks = None
            if source.name == target.name:
                follow = getattr(encoder, "follow", None)
                if follow is not None:
                    follow(self.decoder)
                if checks is not None and not getattr(self.decoder, "fills_in_skipped", False):
                    self._passes, self._text_checks = checks
                    self._find = find
            elif checks is not None:
                make = getattr(encoder, "text_literal", None)
                if find is not None and make is not None:
                    self._literal = (find, make)
                    self._literal_checks, self._text_checks = checks
        self.encoder: StreamEncoder | None = encoder
        self.holder = holder
        self.hold_errors = False
        self.committed = False
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.model = ""
        self.error: UpstreamError | None = None
        self.content_frames = 0
        self.usage_estimated: list[str] = []
        self._input_estimate = input_estimate

    def _fill_missing_usage(self, usage: Usage) -> None:
        """Some servers stream no usage at all (llama-cpp-python ignores ``stream_options``).
        They send one token per content frame, so the frames count the output; the input is
        the router's estimate of the request. Either is filled only when the stream reported
        none, and :attr:`usage_estimated` names what was."""
        if not usage.output_tokens and not self.usage.output_tokens and self.content_frames:
            usage.output_tokens = self.content_frames
            self.usage_estimated.append("output_tokens")
        if not usage.total_input_tokens and not self.usage.total_input_tokens:
            estimate = self._input_estimate() if self._input_estimate is not None else None
            if estimate:
                usage.input_tokens = estimate
                self.usage_estimated.append("input_tokens")

    def _observe(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MessageDelta):
                self._fill_missing_usage(event.usage)
                self.usage.merge(event.usage)
                if event.stop_reason is not None:
                    self.stop_reason = event.stop_reason
            elif isinstance(event, MessageStart):
                self.usage.merge(event.usage)
                self.model = event.model or self.model
            elif isinstance(event, StreamError):
                # An upstream may echo the key it was sent; the message goes on to the client.
                event.message = redact(event.message)
                self.error = stream_error_to_upstream(event, committed=self.committed)
                if not self.committed:
                    raise self.error

    def _commits(self, events: list[Event]) -> bool:
        return any(is_commit_event(e) for e in events)

    def push(self, chunk: bytes) -> bytes:
        """Feed upstream bytes; return the client bytes they produce.

        Before commit, an error event raises :class:`UpstreamError` (the router moves on).
        After commit it is passed to the client and recorded in :attr:`error`.
        """
        out: list[bytes] = []
        relay = self.relay
        skippable = self.source.relay_skippable
        holder = self.holder
        passes = self._passes
        literal = self._literal
        literal_checks = self._literal_checks
        text_checks = self._text_checks
        try:
            raws = self.parser.feed_raw(chunk)
        except SSEError as exc:
            raise UpstreamError("bad_response", str(exc), committed=self.committed) from None
        for raw in raws:
            if (
                literal is not None
                and self.committed
                and skippable(raw)
                and (not literal_checks or _all_pass(literal_checks, raw))
            ):
                found = literal[0](raw)
                data = (
                    None
                    if found is None or (text_checks and not _text_passes(text_checks, found))
                    else literal[1](*found)
                )
                if data is not None:
                    self.content_frames += 1
                    out.append(data)
                    continue
            if (
                relay
                and self.committed
                and skippable(raw)
                and (holder is None or not holder.may_start(raw))
            ):
                self.content_frames += 1
                out.append(raw if holder is None else holder.frame(raw, None))
                continue
            if (
                passes is not None
                and self.committed
                and skippable(raw)
                and raw.find(b'"tool_calls"') < 0  # opens a block the decoder must track
                and _all_pass(passes, raw)
                and (
                    not text_checks
                    or (self._find is not None and _text_passes(text_checks, self._find(raw)))
                )
            ):
                self.content_frames += 1
                out.append(raw)
                continue
            frame = parse_frame(raw)
            if frame is None:
                continue
            events = self.decoder.feed(frame)
            content = self._commits(events)
            if content:
                self.content_frames += 1
            if relay:
                self._relay_frame(frame, events, content, out)
            else:
                self._observe(events)
                self._emit(run_transforms(self.transforms, events), out)
            if self.error is not None:
                break
        return b"".join(out)

    def _relay_frame(
        self, frame: Frame, events: list[Event], content: bool, out: list[bytes]
    ) -> None:
        commits = content and not self.committed
        self._observe(events)
        if self.error is not None and self.hold_errors:
            return
        data = self.source.relay_frame(frame, self.request_body)
        if self.error is not None:
            # This is the error frame itself, relayed as the upstream wrote it.
            data = redact(data.decode("utf-8", "replace")).encode()
        holder = self.holder
        if holder is not None:
            data = holder.frame(data, events)
            commits = bool(data) and (commits or holder.released)
        if commits:
            self.committed = True
        out.append(data)

    def _emit(self, events: list[Event], out: list[bytes]) -> None:
        if self.hold_errors and self.error is not None:
            events = [e for e in events if not isinstance(e, StreamError)]
        if self.holder is not None:
            events = self.holder.feed(events)
        if not events:
            return
        if not self.committed and self._commits(events):
            self.committed = True
        assert self.encoder is not None
        out.append(self.encoder.encode(events))

    def push_events(self, events: list[Event]) -> bytes:
        """A whole response that arrived as JSON to a stream request."""
        self._observe(events)
        out: list[bytes] = []
        if self.encoder is None:
            self.encoder = self.target.stream_encoder(
                model=self.model, request_body=self.request_body
            )
        self._emit(run_transforms(self.transforms, events), out)
        self._emit(flush_transforms(self.transforms), out)
        self.committed = True
        return b"".join(out)

    def finish(self) -> bytes:
        """Upstream body ended. Raises ``stream_cut`` when the stream did not end properly."""
        out: list[bytes] = []
        for frame in self.parser.flush():
            events = self.decoder.feed(frame)
            if self.relay:
                self._relay_frame(frame, events, self._commits(events), out)
            else:
                self._observe(events)
                self._emit(run_transforms(self.transforms, events), out)
        tail = self.decoder.finish()
        self._observe(tail)
        if not self.decoder.complete:
            raise UpstreamError(
                "stream_cut",
                "upstream stream ended before it was complete",
                committed=self.committed,
            )
        if not self.relay:
            self._emit(run_transforms(self.transforms, tail), out)
            self._emit(flush_transforms(self.transforms), out)
        if self.holder is not None:
            out.append(self.holder.flush_frames())
            held = self.holder.flush_events()
            if held:
                assert self.encoder is not None
                out.append(self.encoder.encode(held))
        self.committed = True
        return b"".join(out)
