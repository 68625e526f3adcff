"""OpenAI Responses stream out: internal events encoded as the Responses SSE that codex and
the openai SDK accept, and a stream that fails before it starts."""

from __future__ import annotations

import time
from typing import Any

import attrs

from coderouter.wire import model as ir
from coderouter.wire.openai_responses.common import (
    client_tools,
    custom_tool_names,
    new_id,
    sse_frame,
    tool_namespaces,
)
from coderouter.wire.openai_responses.errors import failed_error, failed_frame
from coderouter.wire.openai_responses.responses import (
    finish_object,
    function_call_item,
    message_item,
    output_text_part,
    reasoning_item,
    response_object,
)
from coderouter.wire.openai_responses.stream_decode import ResponsesStreamDecoder

_ITEM_PREFIXES = {"text": "msg", "tool_use": "fc", "thinking": "rs", "redacted_thinking": "rs"}


@attrs.define(slots=True)
class _OpenItem:
    """An output item between ``output_item.added`` and ``output_item.done``."""

    kind: str
    item_id: str
    output_index: int
    block: ir.Block
    parts: list[str] = attrs.Factory(list)
    signature: str = ""
    part_open: bool = False


class ResponsesStreamEncoder:
    """Internal events -> Responses SSE: ``response.created`` first, every item added, filled
    and done, ``response.completed`` (or ``response.failed``) last."""

    __slots__ = (
        "_body",
        "_created",
        "_customs",
        "_done",
        "_finished",
        "_id",
        "_items",
        "_model",
        "_namespaces",
        "_next_output",
        "_seq",
        "_skipped",
        "_source",
        "_started",
        "_stop",
        "_usage",
    )

    def __init__(self, *, model: str, request_body: dict[str, Any]) -> None:
        self._id = new_id()
        self._model = model
        self._body = request_body
        self._created = int(time.time())
        tools = client_tools(request_body)
        self._namespaces = tool_namespaces(tools)
        self._customs = custom_tool_names(tools)
        self._seq = 0
        self._started = False
        self._done = False
        self._items: dict[int, _OpenItem] = {}
        self._skipped: set[int] = set()
        self._finished: dict[int, dict[str, Any]] = {}
        self._next_output = 0
        self._usage = ir.Usage()
        self._stop: ir.StopReason | None = None
        self._source: ResponsesStreamDecoder | None = None

    def follow(self, decoder: ResponsesStreamDecoder) -> None:
        """Re-encode a Responses stream: the response objects keep every field of the
        upstream's latest one but the output, and events are numbered on from the upstream's
        first ``sequence_number``, so a stream the transforms left alone keeps its numbers."""
        self._source = decoder

    def number_after(self, sequence: int) -> None:
        """Number the next event after ``sequence`` (a resumed stream goes on numbering where
        the one its client was reading stopped)."""
        self._seq = max(self._seq, sequence + 1)

    def _emit(self, out: list[str], kind: str, **payload: Any) -> None:
        out.append(sse_frame(kind, payload, self._seq))
        self._seq += 1

    def _object(self, status: str = "in_progress", usage: ir.Usage | None = None) -> dict[str, Any]:
        source = self._source.response if self._source is not None else None
        if source is not None:
            return {**source, "output": [self._finished[i] for i in sorted(self._finished)]}
        return response_object(
            response_id=self._id,
            created_at=self._created,
            model=self._model,
            request_body=self._body,
            output=[self._finished[i] for i in sorted(self._finished)],
            status=status,
            usage=usage,
        )

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[str] = []
        for event in events:
            if self._done:
                break
            if not self._started:
                self._start(event, out)
            self._dispatch(event, out)
        return "".join(out).encode()

    def _start(self, event: ir.Event, out: list[str]) -> None:
        self._started = True
        if self._source is not None and self._source.first_sequence is not None:
            self._seq = max(self._seq, self._source.first_sequence)
        if isinstance(event, ir.MessageStart):
            self._model = self._model or event.model
            if event.id.startswith("resp_"):
                self._id = event.id  # a Responses stream's own id carries on (relays, resumes)
        response = self._object()
        self._emit(out, "response.created", response=response)
        self._emit(out, "response.in_progress", response=response)

    def _dispatch(self, event: ir.Event, out: list[str]) -> None:
        if isinstance(event, ir.TextDelta):
            self._delta(event.index, "text", event.text, out)
        elif isinstance(event, ir.ThinkingDelta):
            self._delta(event.index, "thinking", event.thinking, out)
        elif isinstance(event, ir.ToolArgsDelta):
            self._delta(event.index, "tool_use", event.partial_json, out)
        elif isinstance(event, ir.SignatureDelta):
            item = self._items.get(event.index)
            if item is not None:
                item.signature += event.signature
        elif isinstance(event, ir.BlockStart):
            self._open(event.index, event.block, out)
        elif isinstance(event, ir.BlockStop):
            self._close(event.index, out)
        elif isinstance(event, ir.MessageStart | ir.MessageDelta):
            self._usage.merge(event.usage)
            if isinstance(event, ir.MessageDelta) and event.stop_reason is not None:
                self._stop = event.stop_reason
        elif isinstance(event, ir.MessageStop):
            self._complete(out)
        elif isinstance(event, ir.StreamError):
            self._fail(event, out)

    def _open(self, index: int, block: ir.Block, out: list[str]) -> _OpenItem | None:
        kind = str(block.get("type"))
        if index in self._items:
            return self._items[index]
        if kind not in _ITEM_PREFIXES:
            self._skipped.add(index)
            return None
        item_id = block.get("item_id")
        if not isinstance(item_id, str) or not item_id:
            item_id = new_id(_ITEM_PREFIXES[kind])
        item = _OpenItem(kind, item_id, self._next_output, block)
        self._next_output += 1
        self._items[index] = item
        self._emit(
            out,
            "response.output_item.added",
            output_index=item.output_index,
            item=self._item(item, "in_progress"),
        )
        if kind == "text":
            self._emit(
                out,
                "response.content_part.added",
                item_id=item.item_id,
                output_index=item.output_index,
                content_index=0,
                part=output_text_part(""),
            )
        return item

    def _item(self, item: _OpenItem, status: str) -> dict[str, Any]:
        text = "".join(item.parts)
        if item.kind == "text":
            return message_item(item.item_id, None if status != "completed" else text, status)
        if item.kind == "tool_use":
            args = text if status != "completed" or text.strip() else "{}"
            return function_call_item(
                item.item_id, item.block, args, status, self._namespaces, self._customs
            )
        block = {**item.block, "signature": item.signature} if item.signature else item.block
        return reasoning_item(item.item_id, block, text if status == "completed" else None)

    def _delta(self, index: int, kind: str, text: str, out: list[str]) -> None:
        item = self._items.get(index)
        if item is None and index not in self._skipped and kind != "tool_use":
            item = self._open(index, {"type": kind}, out)
        if item is None or item.kind != kind or not text:
            return
        item.parts.append(text)
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if kind == "text":
            self._emit(
                out, "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
            )
        elif kind == "tool_use":
            # A free-form tool's input arrives as JSON arguments: it goes out whole, in the
            # item's output_item.done.
            if item.block.get("name") not in self._customs:
                self._emit(out, "response.function_call_arguments.delta", **where, delta=text)
        else:
            if not item.part_open:
                item.part_open = True
                self._emit(
                    out,
                    "response.reasoning_summary_part.added",
                    **where,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            self._emit(
                out, "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
            )

    def _close(self, index: int, out: list[str]) -> None:
        item = self._items.pop(index, None)
        if item is None:
            return
        done = self._item(item, "completed")
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "text":
            text = done["content"][0]["text"]
            self._emit(
                out, "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            self._emit(
                out, "response.content_part.done", **where, content_index=0, part=done["content"][0]
            )
        elif item.kind == "tool_use" and done["type"] == "custom_tool_call":
            self._emit(out, "response.custom_tool_call_input.done", **where, input=done["input"])
        elif item.kind == "tool_use":
            self._emit(
                out, "response.function_call_arguments.done", **where, arguments=done["arguments"]
            )
        elif item.part_open:
            part = done["summary"][0]
            self._emit(
                out,
                "response.reasoning_summary_text.done",
                **where,
                summary_index=0,
                text=part["text"],
            )
            self._emit(
                out, "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
        self._emit(out, "response.output_item.done", output_index=item.output_index, item=done)
        self._finished[item.output_index] = done

    def _complete(self, out: list[str]) -> None:
        for index in sorted(self._items):
            self._close(index, out)
        obj = self._object(usage=self._usage)
        if self._source is None:
            finish_object(obj, ir.Response(stop_reason=self._stop))
        self._emit(out, "response.completed", response=obj)
        self._done = True

    def _fail(self, event: ir.StreamError, out: list[str]) -> None:
        obj = self._object(usage=self._usage)
        out.append(failed_frame(obj, failed_error(event.error_type, event.message), self._seq))
        self._seq += 1
        self._done = True


def stream_error(error_type: str, message: str) -> bytes:
    """A stream that fails before any answer: one ``response.failed`` frame around an empty
    response object."""
    obj = response_object(
        response_id=new_id(),
        created_at=int(time.time()),
        model="",
        request_body={},
        output=[],
        status="failed",
    )
    return failed_frame(obj, failed_error(error_type, message), 0).encode()
