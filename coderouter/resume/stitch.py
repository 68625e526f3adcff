"""The continuation's events, fitted into the client's stream as if nothing had happened.

:class:`Stitcher` is the continuation pipeline's encoder. It drops the continuation's message
start, carries its first text on in the block that broke off (its repeat of the sent tail cut
away), numbers its other blocks after the ones the client has, reports usage summed over every
provider of the answer, and hands the result to an encoder primed with what the client was
sent, so ids, block positions and the final response object stay those of the one stream.
"""

from __future__ import annotations

from typing import Any

from coderouter.resume.continuation import sum_usage
from coderouter.resume.overlap import Overlap, may_grow, strip_overlap
from coderouter.resume.sent import SentState, implied_kind
from coderouter.types import Usage
from coderouter.wire import model as ir
from coderouter.wire.base import StreamEncoder, WireFormat

__all__ = ["Stitcher", "primed_encoder"]

_DROPPED = -1


def primed_encoder(
    wire: WireFormat, state: SentState, *, model: str, request_body: dict[str, Any]
) -> StreamEncoder:
    """A fresh encoder of the client's format that has seen what the client was sent (its
    output for those events is thrown away: the client has it). An encoder with a ``prime``
    method is primed with it: it takes the events exactly as sent. An encoder that numbers its
    events (``number_after``) goes on after the last number the client saw."""
    encoder = wire.stream_encoder(model=model, request_body=request_body)
    prime = getattr(encoder, "prime", None)
    if prime is not None:
        prime(state.events)
    else:
        encoder.encode(state.events)
    number_after = getattr(encoder, "number_after", None)
    if number_after is not None and state.last_sequence is not None:
        number_after(state.last_sequence)
    return encoder


class Stitcher:
    """A :class:`~coderouter.wire.base.StreamEncoder` for one continuation.

    ``earlier`` is the usage of every provider before this one. ``report`` is updated with
    what the stitching did (``overlap_chars``) for the request log.
    """

    def __init__(
        self,
        encoder: StreamEncoder,
        state: SentState,
        *,
        earlier: Usage,
        report: dict[str, Any],
    ) -> None:
        self.encoder = encoder
        self.earlier = earlier
        self.usage = Usage()
        self.report = report
        opened = state.open_block
        self._merge_into = opened.index if opened is not None and opened.kind == "text" else None
        self._to_close = opened.index if opened is not None and opened.kind != "text" else None
        self._next = state.next_index
        self._drop_thinking = state.has_answer()
        tail = state.last_text()
        self._overlap: Overlap | None = Overlap(tail) if tail else None
        self._overlap_block: int | None = None
        self._held: list[str] = []
        self._map: dict[int, int] = {}
        self._new_block_seen = False
        # A new text block that may be nothing but a repeat of the sent tail opens only once
        # it has text of its own (formats whose items open eagerly would show an empty one).
        self._unopened: ir.BlockStart | None = None

    # --- the encoder interface ----------------------------------------------------------------

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[ir.Event] = []
        for event in events:
            self._feed(event, out)
        return self.encoder.encode(out) if out else b""

    # --- one event ----------------------------------------------------------------------------

    def _feed(self, event: ir.Event, out: list[ir.Event]) -> None:
        if isinstance(event, ir.MessageStart):
            self.usage.merge(event.usage)
        elif isinstance(event, ir.BlockStart):
            self._block_start(event, out)
        elif isinstance(
            event, ir.TextDelta | ir.ThinkingDelta | ir.SignatureDelta | ir.ToolArgsDelta
        ):
            self._delta(event, out)
        elif isinstance(event, ir.BlockStop):
            self._block_stop(event, out)
        elif isinstance(event, ir.MessageDelta):
            self._release(out)
            self._close_pending(out)
            self.usage.merge(event.usage)
            total = sum_usage(self.earlier, self.usage)
            out.append(ir.MessageDelta(event.stop_reason, total, event.stop_sequence))
        else:
            self._release(out)
            self._close_pending(out)
            out.append(event)

    def _block_start(self, event: ir.BlockStart, out: list[ir.Event]) -> None:
        kind = event.block.get("type")
        if kind in ("thinking", "redacted_thinking") and self._drop_thinking:
            self._map[event.index] = _DROPPED
            return
        if kind == "text" and self._merge_into is not None and not self._new_block_seen:
            self._map[event.index] = self._merge_into
            self._watch_overlap(event.index)
            return
        first_new = not self._new_block_seen
        self._new_block_seen = True
        self._close_pending(out)
        position = self._map[event.index] = self._next
        self._next += 1
        start = ir.BlockStart(position, event.block)
        if kind == "text" and first_new:
            self._watch_overlap(event.index)
            if self._overlap_block == event.index:
                self._unopened = start
                return
        out.append(start)

    def _watch_overlap(self, index: int) -> None:
        if self._overlap is not None and "overlap_chars" not in self.report:
            self._overlap_block = index

    def _delta(self, event: ir.Event, out: list[ir.Event]) -> None:
        index: int = event.index  # type: ignore[union-attr]
        if index not in self._map:
            self._block_start(ir.BlockStart(index, {"type": implied_kind(event)}), out)
        position = self._map[index]
        if position == _DROPPED:
            return
        if isinstance(event, ir.TextDelta) and index == self._overlap_block:
            self._held.append(event.text)
            assert self._overlap is not None
            if not may_grow(self._overlap, "".join(self._held)):
                self._release(out)
            return
        self._open_unopened(position, out)
        out.append(ir.with_index(event, position))

    def _block_stop(self, event: ir.BlockStop, out: list[ir.Event]) -> None:
        position = self._map.get(event.index)
        if position is None or position == _DROPPED:
            return
        if event.index == self._overlap_block:
            self._release(out)
        unopened = self._unopened
        if unopened is not None and unopened.index == position:
            self._unopened = None  # the block was all repeat: the client never sees it
            return
        if position == self._merge_into:
            self._merge_into = None
        out.append(ir.BlockStop(position))

    def _release(self, out: list[ir.Event]) -> None:
        """Decide the overlap with the text held so far and pass the rest on."""
        index = self._overlap_block
        if index is None:
            return
        self._overlap_block = None
        assert self._overlap is not None
        rest, cut = strip_overlap(self._overlap, "".join(self._held))
        self._held.clear()
        self.report["overlap_chars"] = cut
        if rest:
            self._open_unopened(self._map[index], out)
            out.append(ir.TextDelta(self._map[index], rest))

    def _open_unopened(self, position: int, out: list[ir.Event]) -> None:
        unopened = self._unopened
        if unopened is not None and unopened.index == position:
            out.append(unopened)
            self._unopened = None

    def _close_pending(self, out: list[ir.Event]) -> None:
        """Close the block the client had open when the stream broke, before anything else
        reaches it: a thinking block that cannot be continued, or the text block once the
        continuation moved on to another block."""
        if self._to_close is not None:
            out.append(ir.BlockStop(self._to_close))
            self._to_close = None
        if self._merge_into is not None and self._new_block_seen:
            out.append(ir.BlockStop(self._merge_into))
            self._merge_into = None
