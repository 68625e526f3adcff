"""The internal message model every wire format converts to and from.

It is Anthropic-shaped because Anthropic Messages is the richest of the three formats:

* ``system`` is a list of text blocks (``{"type": "text", "text": ..., "cache_control"?: ...}``);
* ``messages`` are ``{"role": "user" | "assistant", "content": [block, ...]}`` with blocks
  ``text``, ``image`` (``source`` base64 or url), ``tool_use`` (``id``, ``name``, ``input``),
  ``tool_result`` (``tool_use_id``, ``content`` string or blocks, ``is_error``), ``thinking``
  (``thinking``, ``signature``) and ``redacted_thinking``; any block may carry ``cache_control``;
* ``tools`` are ``{"name", "description", "input_schema"}``.

Blocks stay plain dicts: requests are large (Claude Code sends 76-116 KB per turn) and dicts are
the cheapest shape to build and to serialise. Whatever a source format carries that this model
cannot (OpenAI ``seed``, ``logprobs``, ``response_format`` ...) rides in ``extras`` keyed by the
source wire format and is used again when the target speaks that format.

Stream events are small slotted records. A non-stream response is the same event sequence, so
one set of transforms (tool-call repair, output filters) serves both.

The stage modules that handle many of these records import this module as ``ir`` (internal
representation) and name them ``ir.TextDelta``, ``ir.Usage``: where a record comes from stays
visible, and the stage modules do not repeat one long import list each.
"""

from __future__ import annotations

import json
import random
from typing import Any, Literal

import attrs

Block = dict[str, Any]
Message = dict[str, Any]

StopReason = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal", "pause_turn"]


@attrs.define(slots=True)
class Usage:
    """Token counts of one attempt, in every class a provider reports.

    ``input_tokens`` counts fresh (uncached) prompt tokens only; cached reads and cache writes are
    separate so prices can differ per class.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    def merge(self, other: Usage) -> None:
        """Take every non-zero count of ``other`` (streams report usage in pieces)."""
        for field in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        ):
            value = getattr(other, field)
            if value:
                setattr(self, field, value)


@attrs.define(slots=True)
class Request:
    """A request in the internal model. ``source`` names the wire format it was decoded from."""

    model: str
    messages: list[Message]
    system: list[Block] = attrs.Factory(list)
    tools: list[dict[str, Any]] = attrs.Factory(list)
    tool_choice: dict[str, Any] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = attrs.Factory(list)
    stream: bool = False
    thinking: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    source: str = ""
    extras: dict[str, Any] = attrs.Factory(dict)
    dropped: dict[str, int] = attrs.Factory(dict)

    def note_dropped(self, what: str, count: int = 1) -> None:
        """Count something the target format could not carry (``cache_control``, hosted tools)."""
        self.dropped[what] = self.dropped.get(what, 0) + count


def tool_reference_text(block: Block) -> str | None:
    """A ``tool_reference`` block (what a tool search returns: a deferred tool now loaded) as
    text, for formats without deferred tools; they receive every tool up front, so the
    reference only tells the model the tool is there. ``None`` for any other block."""
    if block.get("type") != "tool_reference":
        return None
    return f"Tool {block.get('tool_name', '')} is available; call it as a function."


# --- stream events -------------------------------------------------------------------------


@attrs.define(slots=True)
class MessageStart:
    id: str
    model: str
    usage: Usage = attrs.Factory(Usage)


@attrs.define(slots=True)
class BlockStart:
    """A content block opens. ``block`` is ``{"type": "text"}``, ``{"type": "thinking"}``,
    ``{"type": "redacted_thinking", "data": ...}`` or ``{"type": "tool_use", "id", "name"}``.
    A block decoded from a Responses stream also carries its output item's ``item_id``, so a
    stream encoded as Responses again (a relay with transforms, a resumed stream) keeps the
    item ids its client has seen."""

    index: int
    block: Block


@attrs.define(slots=True)
class TextDelta:
    index: int
    text: str


@attrs.define(slots=True)
class ThinkingDelta:
    index: int
    thinking: str


@attrs.define(slots=True)
class SignatureDelta:
    index: int
    signature: str


@attrs.define(slots=True)
class ToolArgsDelta:
    """A piece of a tool call's JSON arguments (concatenate to get the whole object)."""

    index: int
    partial_json: str


@attrs.define(slots=True)
class BlockStop:
    index: int


@attrs.define(slots=True)
class MessageDelta:
    stop_reason: StopReason | None
    usage: Usage = attrs.Factory(Usage)
    stop_sequence: str | None = None


@attrs.define(slots=True)
class MessageStop:
    pass


@attrs.define(slots=True)
class StreamError:
    """An error inside a stream. ``error_type`` is wire-neutral: ``overloaded``, ``api_error``,
    ``rate_limit``, ``invalid_request``."""

    error_type: str
    message: str


Event = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolArgsDelta
    | BlockStop
    | MessageDelta
    | MessageStop
    | StreamError
)

CONTENT_EVENTS = (BlockStart, TextDelta, ThinkingDelta, SignatureDelta, ToolArgsDelta)
"""Events that commit a stream: after the first of these reaches the client, no fallback."""


BLOCK_EVENTS = (BlockStart, TextDelta, ThinkingDelta, SignatureDelta, ToolArgsDelta, BlockStop)
"""Events that belong to one content block (they carry its ``index``)."""


def with_index(event: Event, index: int) -> Event:
    """``event`` moved to block ``index`` (a new object; the original is left as it is).
    Transforms that drop or insert blocks renumber the rest with it."""
    if isinstance(event, BLOCK_EVENTS):
        return attrs.evolve(event, index=index)
    return event


def is_content(event: Event) -> bool:
    return isinstance(event, CONTENT_EVENTS)


# --- whole responses -------------------------------------------------------------------------


@attrs.define(slots=True)
class Response:
    """A complete assistant answer, folded from events (see :func:`accumulate`)."""

    id: str = ""
    model: str = ""
    content: list[Block] = attrs.Factory(list)
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage = attrs.Factory(Usage)
    error: StreamError | None = None


class _Folder:
    """Folds events into blocks; one method per event kind keeps each step obvious."""

    def __init__(self) -> None:
        self.response = Response()
        self.blocks: dict[int, Block] = {}
        self.tool_json: dict[int, list[str]] = {}

    def block(self, index: int, default_type: str) -> Block:
        found = self.blocks.get(index)
        if found is None:
            found = {"type": default_type, default_type: ""}
            self.blocks[index] = found
        return found

    def feed(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            block = self.block(event.index, "text")
            block["text"] = block.get("text", "") + event.text
        elif isinstance(event, ThinkingDelta):
            block = self.block(event.index, "thinking")
            block["thinking"] = block.get("thinking", "") + event.thinking
        elif isinstance(event, SignatureDelta):
            block = self.block(event.index, "thinking")
            block["signature"] = block.get("signature", "") + event.signature
        elif isinstance(event, ToolArgsDelta):
            self.tool_json.setdefault(event.index, []).append(event.partial_json)
        elif isinstance(event, BlockStart):
            self.start(event)
        else:
            self.message_event(event)

    def start(self, event: BlockStart) -> None:
        block = dict(event.block)
        block.pop("item_id", None)  # the stream's identity, not the block's content
        kind = block.get("type")
        if kind in ("text", "thinking"):
            block.setdefault(str(kind), "")
        elif kind == "tool_use":
            self.tool_json[event.index] = []
        self.blocks[event.index] = block

    def message_event(self, event: Event) -> None:
        response = self.response
        if isinstance(event, MessageStart):
            response.id, response.model = event.id, event.model
            response.usage.merge(event.usage)
        elif isinstance(event, MessageDelta):
            if event.stop_reason is not None:
                response.stop_reason = event.stop_reason
            response.stop_sequence = event.stop_sequence or response.stop_sequence
            response.usage.merge(event.usage)
        elif isinstance(event, StreamError):
            response.error = event

    def result(self) -> Response:
        for index, parts in self.tool_json.items():
            found = self.blocks.get(index)
            if found is not None:
                found["input"] = parse_tool_input("".join(parts))
        self.response.content = [self.blocks[i] for i in sorted(self.blocks)]
        return self.response


def accumulate(events: list[Event]) -> Response:
    """Fold an event sequence into a :class:`Response` (tool arguments parsed as JSON)."""
    folder = _Folder()
    for event in events:
        folder.feed(event)
    return folder.result()


def unique_hex(digits: int) -> str:
    """``digits`` random hex digits for an id the router makes up. Ids need to be unique, not
    unguessable, so they come from the process's generator (reseeded in every forked worker):
    a fraction of ``uuid4``'s cost, which asks the system for entropy each time."""
    return f"{random.getrandbits(digits * 4):0{digits}x}"


def parse_tool_input(text: str) -> dict[str, Any]:
    """Tool arguments as an object; empty or unparsable arguments become ``{}``."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def response_events(response: Response) -> list[Event]:
    """The event sequence of a whole response (used to run non-stream bodies through
    stream transforms and to build streams from whole answers)."""
    events: list[Event] = [MessageStart(response.id, response.model, attrs.evolve(response.usage))]
    for index, block in enumerate(response.content):
        kind = block.get("type")
        if kind == "text":
            events += [BlockStart(index, {"type": "text"}), TextDelta(index, block.get("text", ""))]
        elif kind == "thinking":
            head = {k: v for k, v in block.items() if k not in ("thinking", "signature")}
            events += [BlockStart(index, head), ThinkingDelta(index, block.get("thinking", ""))]
            if block.get("signature"):
                events.append(SignatureDelta(index, block["signature"]))
        elif kind == "tool_use":
            head = {"type": "tool_use", "id": block.get("id", ""), "name": block.get("name", "")}
            events += [
                BlockStart(index, head),
                ToolArgsDelta(index, json.dumps(block.get("input") or {}, ensure_ascii=False)),
            ]
        else:
            events.append(BlockStart(index, dict(block)))
        events.append(BlockStop(index))
    events += [
        MessageDelta(response.stop_reason, attrs.evolve(response.usage), response.stop_sequence),
        MessageStop(),
    ]
    return events
