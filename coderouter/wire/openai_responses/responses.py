"""OpenAI Responses responses: whole (non-stream) Response objects decoded and encoded, the
output items they are made of, and usage."""

from __future__ import annotations

import json
import time
from typing import Any

from coderouter.wire import model as ir
from coderouter.wire.openai_responses.common import (
    CUSTOM_INPUT,
    REDACTED_PREFIX,
    SIGNATURE_PREFIX,
    client_tools,
    custom_tool_names,
    dumps,
    flat_tool_name,
    new_id,
    summary_text,
    thinking_of,
    tool_namespaces,
)
from coderouter.wire.openai_responses.errors import error_type_of, failed_error


def usage_from_responses(usage: Any) -> ir.Usage:
    if not isinstance(usage, dict):
        return ir.Usage()
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    out_details = usage.get("output_tokens_details")
    out_details = out_details if isinstance(out_details, dict) else {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return ir.Usage(
        input_tokens=max(0, int(usage.get("input_tokens") or 0) - cached - written),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=int(out_details.get("reasoning_tokens") or 0),
    )


def usage_to_responses(usage: ir.Usage) -> dict[str, Any]:
    total_in = usage.total_input_tokens
    return {
        "input_tokens": total_in,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": total_in + usage.output_tokens,
    }


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [] if text is None else [output_text_part(text)],
    }


def function_call_item(
    item_id: str,
    block: ir.Block,
    arguments: str,
    status: str,
    namespaces: dict[str, tuple[str, str]],
    customs: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A ``function_call`` item, or a ``custom_tool_call`` with the raw input for a
    free-form tool (decoded as a function of one string argument)."""
    name = str(block.get("name", ""))
    item: dict[str, Any] = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": block.get("id") or new_id("call"),
        "name": name,
    }
    if name in customs:
        del item["arguments"]
        item["type"] = "custom_tool_call"
        item["input"] = _custom_input(arguments) if status == "completed" else ""
    split = namespaces.get(name)
    if split is not None:
        item["namespace"], item["name"] = split
    return item


def _custom_input(arguments: str) -> str:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return arguments
    if isinstance(parsed, dict) and isinstance(parsed.get(CUSTOM_INPUT), str):
        return str(parsed[CUSTOM_INPUT])
    return arguments


def reasoning_item(item_id: str, block: ir.Block, text: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if block.get("type") == "redacted_thinking":
        item["encrypted_content"] = REDACTED_PREFIX + str(block.get("data", ""))
    elif block.get("signature"):
        item["encrypted_content"] = SIGNATURE_PREFIX + str(block["signature"])
    return item


def _output_items(
    blocks: list[ir.Block],
    namespaces: dict[str, tuple[str, str]],
    customs: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            items.append(message_item(new_id("msg"), block.get("text", ""), "completed"))
        elif kind == "tool_use":
            args = dumps(block.get("input") or {})
            items.append(
                function_call_item(new_id("fc"), block, args, "completed", namespaces, customs)
            )
        elif kind in ("thinking", "redacted_thinking"):
            items.append(reasoning_item(new_id("rs"), block, block.get("thinking")))
    return items


def _status_of(stop_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    if stop_reason == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if stop_reason == "refusal":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(
    *,
    response_id: str,
    created_at: int,
    model: str,
    request_body: dict[str, Any],
    output: list[dict[str, Any]],
    status: str = "in_progress",
    usage: ir.Usage | None = None,
) -> dict[str, Any]:
    body = request_body
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning"),
        "store": body.get("store", False),
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": body.get("truncation", "disabled"),
        "metadata": body.get("metadata") or {},
        "usage": None if usage is None else usage_to_responses(usage),
    }


def finish_object(obj: dict[str, Any], response: ir.Response) -> None:
    """Status, incomplete details or error of a finished response object."""
    if response.error is not None:
        obj["status"] = "failed"
        obj["error"] = failed_error(response.error.error_type, response.error.message)
        return
    obj["status"], obj["incomplete_details"] = _status_of(response.stop_reason)
    if obj["status"] == "completed":
        obj["completed_at"] = int(time.time())


def stop_reason_of(body: dict[str, Any], saw_call: bool) -> ir.StopReason:
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if body.get("status") == "incomplete" or reason:
        if reason == "content_filter":
            return "refusal"
        if reason == "max_output_tokens":
            return "max_tokens"
    return "tool_use" if saw_call else "end_turn"


def message_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    texts = []
    for part in content or ():
        if isinstance(part, dict):
            text = part.get("text") if part.get("type") != "refusal" else part.get("refusal")
            if isinstance(text, str):
                texts.append(text)
    return "".join(texts)


def call_head(item: dict[str, Any]) -> ir.Block:
    name = str(item.get("name") or "")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = flat_tool_name(namespace, name)
    return {"type": "tool_use", "id": item.get("call_id") or new_id("call"), "name": name}


def reasoning_head(item: dict[str, Any]) -> ir.Block:
    block = thinking_of(item)
    if block is not None and block["type"] == "redacted_thinking":
        return block
    return {"type": "thinking"}


def _item_events(index: int, item: dict[str, Any]) -> list[ir.Event]:
    """One output item of a whole Response as a block's events (none for hosted items)."""
    kind = item.get("type")
    if kind == "message":
        text = message_text(item)
        if not text:
            return []
        return [
            ir.BlockStart(index, {"type": "text"}),
            ir.TextDelta(index, text),
            ir.BlockStop(index),
        ]
    if kind == "function_call":
        args = item.get("arguments")
        args_text = args if isinstance(args, str) else dumps(args or {})
        return [
            ir.BlockStart(index, call_head(item)),
            ir.ToolArgsDelta(index, args_text),
            ir.BlockStop(index),
        ]
    if kind != "reasoning":
        return []
    head = reasoning_head(item)
    if head["type"] == "redacted_thinking":
        return [ir.BlockStart(index, head), ir.BlockStop(index)]
    text = summary_text(item)
    signature = (thinking_of(item) or {}).get("signature")
    if not text and not signature:
        return []
    events: list[ir.Event] = [ir.BlockStart(index, head), ir.ThinkingDelta(index, text)]
    if signature:
        events.append(ir.SignatureDelta(index, signature))
    return [*events, ir.BlockStop(index)]


# --- entry points -----------------------------------------------------------------------------


def usage_of(body: dict[str, Any]) -> ir.Usage:
    return usage_from_responses(body.get("usage"))


def decode_response(body: dict[str, Any]) -> list[ir.Event]:
    events: list[ir.Event] = [ir.MessageStart(body.get("id") or new_id(), body.get("model") or "")]
    index = 0
    saw_call = False
    for item in body.get("output") or ():
        if not isinstance(item, dict):
            continue
        block_events = _item_events(index, item)
        if block_events:
            saw_call = saw_call or item.get("type") == "function_call"
            events += block_events
            index += 1
    error = body.get("error")
    if body.get("status") == "failed" and isinstance(error, dict):
        events.append(
            ir.StreamError(
                error_type_of(error.get("code")),
                str(error.get("message") or "response failed"),
            )
        )
    events += [ir.MessageDelta(stop_reason_of(body, saw_call), usage_of(body)), ir.MessageStop()]
    return events


def encode_response(
    events: list[ir.Event],
    *,
    model: str,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return encode_folded(ir.accumulate(events), model=model, request_body=request_body)


def encode_folded(
    response: ir.Response,
    *,
    model: str,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole Response object. With ``request_body`` the response echoes its settings
    and namespaced tool calls get their ``namespace`` back."""
    body = request_body or {}
    tools = client_tools(body)
    obj = response_object(
        response_id=new_id(),
        created_at=int(time.time()),
        model=model or response.model,
        request_body=body,
        output=_output_items(response.content, tool_namespaces(tools), custom_tool_names(tools)),
        usage=response.usage,
    )
    finish_object(obj, response)
    return obj


def keep_envelope(original: dict[str, Any], encoded: dict[str, Any]) -> dict[str, Any]:
    """``encoded`` (a Response re-encoded after transforms) inside ``original`` (the Responses
    upstream's object): the id, created_at, model, usage, settings and any other field stay
    the upstream's; the output items are the re-encoded ones."""
    return {**original, "output": encoded["output"]}
