"""Anthropic Messages responses: whole (non-stream) Messages decoded and encoded, and usage."""

from __future__ import annotations

from typing import Any

from coderouter.wire import model as ir
from coderouter.wire.anthropic.common import message_id, new_id, safe_tool_id, stop_in, tool_id


def usage_from_anthropic(usage: Any) -> ir.Usage:
    """Anthropic ``usage`` -> :class:`Usage` (``input_tokens`` there is already fresh-only)."""
    if not isinstance(usage, dict):
        return ir.Usage()
    details = usage.get("output_tokens_details")
    reasoning = details.get("thinking_tokens") if isinstance(details, dict) else 0
    return ir.Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
        reasoning_tokens=int(reasoning or 0),
    )


def usage_to_anthropic(usage: ir.Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }
    if usage.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def _content_out(block: ir.Block) -> ir.Block | None:
    """A response block as clients see it; empty text blocks go (Anthropic refuses them when
    the client echoes them back)."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text", "")
        return {"type": "text", "text": text} if text else None
    if kind == "thinking":
        return {
            "type": "thinking",
            "thinking": block.get("thinking", ""),
            "signature": block.get("signature") or "",
        }
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data", "")}
    if kind == "tool_use":
        data = block.get("input")
        return {
            "type": "tool_use",
            "id": safe_tool_id(block.get("id") or tool_id()),
            "name": block.get("name", ""),
            "input": data if isinstance(data, dict) else {},
        }
    return block


# --- entry points -----------------------------------------------------------------------------


def usage_of(body: dict[str, Any]) -> ir.Usage:
    return usage_from_anthropic(body.get("usage"))


def decode_response(body: dict[str, Any]) -> list[ir.Event]:
    response = ir.Response(
        id=str(body.get("id") or new_id()),
        model=str(body.get("model") or ""),
        content=[b for b in body.get("content") or [] if isinstance(b, dict)],
        stop_reason=stop_in(body.get("stop_reason")),
        stop_sequence=body.get("stop_sequence"),
        usage=usage_of(body),
    )
    return ir.response_events(response)


def encode_response(
    events: list[ir.Event], *, model: str, request_body: dict[str, Any] | None = None
) -> dict[str, Any]:
    return encode_folded(ir.accumulate(events), model=model, request_body=request_body)


def encode_folded(
    response: ir.Response, *, model: str, request_body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A whole Message. Unsigned thinking blocks carry ``"signature": ""`` (see
    :mod:`coderouter.wire.anthropic.thinking`); a turn that called a tool ends with
    ``tool_use``. A Message echoes nothing from the request, so ``request_body`` is not used."""
    content = [b for b in map(_content_out, response.content) if b is not None]
    stop: ir.StopReason = response.stop_reason or "end_turn"
    if stop == "end_turn" and any(b.get("type") == "tool_use" for b in content):
        stop = "tool_use"
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model or response.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": response.stop_sequence,
        "usage": usage_to_anthropic(response.usage),
    }


def keep_envelope(original: dict[str, Any], encoded: dict[str, Any]) -> dict[str, Any]:
    """``encoded`` (a Message re-encoded after transforms) inside ``original`` (the Anthropic
    upstream's Message): the id, model, usage and any other field stay the upstream's; the
    content is the re-encoded one, and so is the stop reason when the transforms changed it."""
    kept = {**original, "content": encoded["content"]}
    stop = encoded["stop_reason"]
    if stop != (stop_in(original.get("stop_reason")) or "end_turn"):
        kept["stop_reason"] = stop
    return kept
