"""OpenAI Responses requests in: client bodies, checked by
:mod:`~coderouter.wire.openai_responses.validate`, decoded into the internal
:class:`~coderouter.wire.model.Request` (namespace tools flattened, hosted tools and foreign
reasoning items dropped, reasoning effort turned into a thinking budget)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coderouter.wire.effort import thinking_for
from coderouter.wire.model import Block, Message, Request, parse_tool_input
from coderouter.wire.openai_chat.requests import (
    image_block_of_url,
    keyword_choice_in,
    output_format_in,
)
from coderouter.wire.openai_responses.common import (
    CUSTOM_INPUT,
    NAME,
    NAMESPACES_EXTRA,
    client_tools,
    flat_tool_name,
    log,
    new_id,
    thinking_of,
)
from coderouter.wire.openai_responses.validate import validate_request

_KNOWN_KEYS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "text",
        "profile",
    }
)


# --- decode ---------------------------------------------------------------------------------


def _image_block(part: dict[str, Any]) -> Block | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        return None
    return image_block_of_url(url)


def _part_block(part: Any, request: Request) -> Block | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        text = part.get("text")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind == "refusal":
        text = part.get("refusal")
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind == "input_image":
        block = _image_block(part)
        if block is None:
            request.note_dropped("images")
        return block
    request.note_dropped("files" if kind == "input_file" else "content_parts")
    return None


def _content_blocks(content: Any, request: Request) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = [_part_block(part, request) for part in content or ()]
    return [b for b in blocks if b is not None]


def _append(messages: list[Message], role: str, blocks: list[Block]) -> None:
    """Consecutive items of one role merge into one message (a reasoning item, the assistant
    text and its function calls are one assistant turn; tool outputs are one user turn)."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role and role != "system":
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _decode_message(item: dict[str, Any], request: Request) -> None:
    role = item.get("role")
    blocks = _content_blocks(item.get("content"), request)
    if role in ("system", "developer"):
        texts = [b for b in blocks if b["type"] == "text"]
        if not request.messages:
            request.system.extend(texts)
        elif texts:
            request.messages.append({"role": "system", "content": texts})
    elif role == "assistant":
        _append(request.messages, "assistant", blocks)
    else:
        _append(request.messages, "user", blocks)


def _decode_function_call(item: dict[str, Any], request: Request) -> None:
    name = str(item.get("name") or "")
    namespace = item.get("namespace")
    if isinstance(namespace, str) and namespace:
        name = flat_tool_name(namespace, name)
    args = item.get("arguments")
    parsed = args if isinstance(args, dict) else parse_tool_input(str(args or ""))
    call_id = item.get("call_id") or item.get("id") or new_id("call")
    _append(
        request.messages,
        "assistant",
        [{"type": "tool_use", "id": call_id, "name": name, "input": parsed}],
    )


def _tool_output(output: Any, request: Request) -> str | list[Block]:
    if isinstance(output, str):
        return output
    blocks = _content_blocks(output, request)
    if any(b["type"] != "text" for b in blocks):
        return blocks
    return "\n".join(b["text"] for b in blocks)


def _decode_function_call_output(item: dict[str, Any], request: Request) -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": item.get("call_id", ""),
        "content": _tool_output(item.get("output"), request),
    }
    _append(request.messages, "user", [result])


def _decode_reasoning(item: dict[str, Any], request: Request) -> None:
    block = thinking_of(item)
    if block is None:
        request.note_dropped("reasoning")
    else:
        _append(request.messages, "assistant", [block])


def _decode_custom_tool_call(item: dict[str, Any], request: Request) -> None:
    _decode_function_call(
        {**item, "arguments": {CUSTOM_INPUT: str(item.get("input") or "")}}, request
    )


def _tools_item(item: dict[str, Any], request: Request) -> None:
    """``additional_tools`` items are decoded with the request's tools."""


_ITEM_DECODERS: dict[str, Callable[[dict[str, Any], Request], None]] = {
    "message": _decode_message,
    "function_call": _decode_function_call,
    "function_call_output": _decode_function_call_output,
    "custom_tool_call": _decode_custom_tool_call,
    "custom_tool_call_output": _decode_function_call_output,
    "reasoning": _decode_reasoning,
    "additional_tools": _tools_item,
}


def _decode_input(body: dict[str, Any], request: Request) -> None:
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        request.system.append({"type": "text", "text": instructions})
    items = body["input"]
    if isinstance(items, str):
        request.messages.append({"role": "user", "content": [{"type": "text", "text": items}]})
        return
    for item in items:
        kind = item.get("type") or "message"
        decoder = _ITEM_DECODERS.get(kind)
        if decoder is None:
            log.info("openai_responses: dropped input item of type %r", kind)
            request.note_dropped("input_items")
        else:
            decoder(item, request)


def _function_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    schema = tool.get("parameters")
    return {
        "name": name,
        "description": tool.get("description") or "",
        "input_schema": schema if isinstance(schema, dict) else {"type": "object"},
    }


def _drop_tool(kind: Any, request: Request) -> None:
    log.info("openai_responses: dropped tool of type %r (no equivalent outside OpenAI)", kind)
    request.note_dropped("custom_tools" if kind == "custom" else "hosted_tools")


def _custom_tool(tool: dict[str, Any], name: str) -> dict[str, Any]:
    """A free-form tool as a function taking its whole input as one string; the grammar, when
    the tool has one, goes into the description."""
    description = str(tool.get("description") or "")
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        description += f"\n\nThe input follows this {fmt.get('syntax', '')} grammar:\n"
        description += str(fmt.get("definition", ""))
    return {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "the raw input"}},
            "required": [CUSTOM_INPUT],
        },
    }


def _plain_tool(tool: Any, name: Any) -> dict[str, Any] | None:
    if not isinstance(tool, dict) or not isinstance(name, str) or not name:
        return None
    if tool.get("type") == "function":
        return _function_tool(tool, name)
    if tool.get("type") == "custom":
        return _custom_tool(tool, name)
    return None


def _decode_tools(tools: Any, request: Request) -> dict[str, list[str]]:
    namespaces: dict[str, list[str]] = {}
    for tool in tools or ():
        kind = tool.get("type")
        if kind in ("function", "custom"):
            decoded = _plain_tool(tool, tool.get("name"))
            if decoded is not None:
                request.tools.append(decoded)
        elif kind == "namespace":
            namespace = str(tool.get("name"))
            for inner in tool.get("tools") or ():
                name = inner.get("name") if isinstance(inner, dict) else None
                flat = flat_tool_name(namespace, name) if isinstance(name, str) else ""
                decoded = _plain_tool(inner, flat if name else None)
                if decoded is None:
                    _drop_tool(inner.get("type") if isinstance(inner, dict) else None, request)
                    continue
                request.tools.append(decoded)
                namespaces[flat] = [namespace, str(name)]
        else:
            _drop_tool(kind, request)
    return namespaces


def _tool_choice_in(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if isinstance(name, str) and name:
            namespace = choice.get("namespace")
            if isinstance(namespace, str) and namespace:
                name = flat_tool_name(namespace, name)
            return {"type": "tool", "name": name}
    return keyword_choice_in(choice)


def thinking_in(reasoning: Any) -> dict[str, Any] | None:
    if not isinstance(reasoning, dict):
        return None
    return thinking_for(reasoning.get("effort"))


def _response_format_in(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    return output_format_in(fmt.get("type"), fmt)


def _extras_in(body: dict[str, Any]) -> dict[str, Any]:
    extras = {k: v for k, v in body.items() if k not in _KNOWN_KEYS}
    text = body.get("text")
    if isinstance(text, dict):
        rest = {k: v for k, v in text.items() if k != "format"}
        if rest:
            extras["text"] = rest
    return extras


# --- entry points -----------------------------------------------------------------------------


def decode_request(body: dict[str, Any], *, checked: bool = False) -> Request:
    if not checked:
        validate_request(body)
    max_tokens = body.get("max_output_tokens")
    request = Request(
        model=body.get("model") or "",
        messages=[],
        tool_choice=_tool_choice_in(body.get("tool_choice")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stream=body.get("stream") is True,
        thinking=thinking_in(body.get("reasoning")),
        response_format=_response_format_in(body.get("text")),
        source=NAME,
        extras={NAME: _extras_in(body)},
    )
    _decode_input(body, request)
    namespaces = _decode_tools(client_tools(body), request)
    if namespaces:
        request.extras[NAMESPACES_EXTRA] = namespaces
    return request
