"""Seamless failover mid-stream through `coderouter serve`: the first provider's stream is cut
at every event offset of a scripted 40-event answer, the second provider continues, and the
official SDKs' stream accumulators see one whole answer.

One router process per scenario serves every offset (requests one after another), so the
sweep stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anthropic

from coderouter.resume.overlap import _compact
from coderouter.testing import Answer, ConfigBuilder

FIXTURES = Path(__file__).parent / "fixtures" / "clients"

TEXT = (
    "Reading the config loader first: it walks four places in order, "
    "then merges profile tables over router defaults. Quick summary of risks: "
    "an unknown key fails loudly, paths expand tildes, and every provider "
    "name must be unique across files."
)
THINKING = "The user wants a review. Look at lookup order, merging, and the error wording."
TOOL_INPUT = {"path": "coderouter/config.py", "limit": 120}


def pieces(text: str, count: int) -> list[str]:
    """``text`` in ``count`` pieces of uneven length, some starting or ending in spaces."""
    cuts = sorted({round(len(text) * (i * i + i) / (count * count + count)) for i in range(count)})
    bounds = [*cuts[1:], len(text)]
    parts = [text[a:b] for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]
    parts = [p for p in parts if p]
    while len(parts) < count:
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        half = len(parts[longest]) // 2
        parts[longest : longest + 1] = [parts[longest][:half], parts[longest][half:]]
    return parts


def frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n"


def anthropic_answer(
    *,
    text: Sequence[str] = (),
    thinking: Sequence[str] = (),
    tool: Sequence[str] = (),
    output_tokens: int = 50,
) -> list[str]:
    """Anthropic SSE frames: thinking (signed), text, a tool call, in that order."""
    usage = {"input_tokens": 100, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": "msg_first",
        "type": "message",
        "role": "assistant",
        "model": "claude-fake",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    frames = [frame("message_start", {"message": message}), frame("ping", {})]
    index = 0

    def delta(payload: dict[str, Any]) -> str:
        return frame("content_block_delta", {"index": index, "delta": payload})

    if thinking:
        block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        frames.append(frame("content_block_start", {"index": index, "content_block": block}))
        frames += [delta({"type": "thinking_delta", "thinking": p}) for p in thinking]
        frames.append(delta({"type": "signature_delta", "signature": "sig-first"}))
        frames.append(frame("content_block_stop", {"index": index}))
        index += 1
    if text:
        block = {"type": "text", "text": ""}
        frames.append(frame("content_block_start", {"index": index, "content_block": block}))
        frames += [delta({"type": "text_delta", "text": p}) for p in text]
        frames.append(frame("content_block_stop", {"index": index}))
        index += 1
    if tool:
        block = {"type": "tool_use", "id": "toolu_read", "name": "Read", "input": {}}
        frames.append(frame("content_block_start", {"index": index, "content_block": block}))
        frames += [delta({"type": "input_json_delta", "partial_json": p}) for p in tool]
        frames.append(frame("content_block_stop", {"index": index}))
    stop = "tool_use" if tool else "end_turn"
    frames.append(
        frame(
            "message_delta",
            {
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    frames.append(frame("message_stop", {}))
    return frames


def sent_text(frames: Sequence[str], count: int, *, hold_tools: bool) -> tuple[str, bool]:
    """The text a client has after the first ``count`` frames, and whether the cut fell
    after the message's stop reason (no continuation then)."""
    text = ""
    for raw in frames[:count]:
        data = json.loads(raw.split("data: ", 1)[1])
        if data["type"] == "content_block_delta" and data["delta"]["type"] == "text_delta":
            text += data["delta"]["text"]
        if data["type"] == "message_delta":
            return text, True
    return text, False


def repeated_tail(sent: str, offset: int) -> str:
    """The part of the sent text a continuation repeats: nothing, a few words or all of it,
    varying with the offset (at least three visible characters, the stripper's minimum)."""
    choice = offset % 4
    if choice == 0 or not sent:
        return ""
    if choice == 3:
        return sent
    size = 6 if choice == 1 else 25
    while size < len(sent) and len(_compact(sent[-size:])[0]) < 3:
        size += 1
    return sent[-size:]


def claude_code_body() -> dict[str, Any]:
    data = json.loads((FIXTURES / "claude_code_main_turn0.json").read_text())
    body: dict[str, Any] = data["body"]
    return body


def stream_final(url: str, body: dict[str, Any]) -> Any:
    client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
    known = {"model", "messages", "system", "tools", "metadata", "max_tokens", "thinking"}
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known and k != "stream"}
    with client.messages.stream(**kwargs, extra_body=extra) as stream:
        return stream.get_final_message()


def two_providers(
    router_process: Any,
    fake_upstreams: Any,
    *,
    first: dict[str, Any] | None = None,
    second: dict[str, Any] | None = None,
    resume: str | None = None,
) -> Any:
    """A router whose default profile is the fake upstreams ``first`` then ``second`` (their
    provider settings given), and the two upstreams."""
    one, two = fake_upstreams(), fake_upstreams()
    builder = (
        ConfigBuilder()
        .provider("first", one, **(first or {}))
        .provider("second", two, **(second or {}))
        .profile("default", ["first", "second"])
    )
    if resume is not None:
        builder.router(resume=resume)
    return router_process(builder), one, two


def two_anthropic(router_process: Any, fake_upstreams: Any, resume: str) -> Any:
    first = {"kind": "anthropic", "model": "claude-first"}
    second = {"kind": "anthropic", "model": "claude-second"}
    return two_providers(router_process, fake_upstreams, first=first, second=second, resume=resume)


def cut_and_continue(first: Any, second: Any, frames: list[str], offset: int) -> None:
    """``first`` breaks after ``offset`` frames of an Anthropic text answer; unless the answer
    had ended, ``second`` continues :data:`TEXT` from where the client's copy stops."""
    first.script(Answer.sse(frames, cut_after=offset))
    sent, ended = sent_text(frames, offset, hold_tools=False)
    if not ended:
        resumed_at = len(sent) - len(repeated_tail(sent, offset))
        second.script(Answer.sse(continuation(TEXT[resumed_at:])))


def cut_chat_and_continue(
    first: Any,
    second: Any,
    frames: list[str],
    offset: int,
    *,
    text: str,
    call: dict[str, Any],
    answer: Callable[..., list[str]],
) -> None:
    """``first`` breaks after ``offset`` frames of a Chat answer of ``text`` and ``call``;
    unless it had finished, ``second`` answers (``answer``: its stream's builder) with the rest
    of the text and the call again under a new id."""
    first.script(Answer.sse(frames, cut_after=offset))
    chunks = [json.loads(f[6:]) for f in frames[:offset] if f.startswith("data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    sent = "".join(d.get("content") or "" for d in deltas)
    finished = any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks)
    if not finished:
        resumed_at = len(sent) - len(repeated_tail(sent, offset))
        rest = text[resumed_at:]
        again = {**call, "id": "call_again"}
        second.script(Answer.sse(answer(pieces(rest, 3) if rest else [], tool_calls=[again])))


def continuation(text: str, tool: Sequence[str] = ()) -> list[str]:
    return anthropic_answer(text=pieces(text, 5) if text else (), tool=tool, output_tokens=20)


def test_text_cut_at_every_offset_is_continued_on_the_second_provider(
    router_process: Any, fake_upstreams: Any
) -> None:
    frames = anthropic_answer(text=pieces(TEXT, 34))
    assert len(frames) == 40
    proc, first, second = two_anthropic(router_process, fake_upstreams, "text")
    body = claude_code_body()
    for offset in range(1, 40):
        cut_and_continue(first, second, frames, offset)
        message = stream_final(proc.url, body)
        assert [b.type for b in message.content] == ["text"], offset
        assert message.content[0].text == TEXT, offset
        assert message.stop_reason == "end_turn"
    continued = second.bodies()
    assert len(continued) == 38
    assert all(b["stream"] is True for b in first.bodies() + continued)
    prefilled = [b for b in continued if b["messages"][-1]["role"] == "assistant"]
    assert len(prefilled) == 38 - 3  # cuts before the first text delta are plain fallbacks
    for request in prefilled:
        prefill = request["messages"][-1]["content"][-1]["text"]
        assert TEXT.startswith(prefill) and prefill == prefill.rstrip()
        assert "thinking" not in request


def test_thinking_then_text_cut_at_every_offset(router_process: Any, fake_upstreams: Any) -> None:
    frames = anthropic_answer(thinking=pieces(THINKING, 12), text=pieces(TEXT, 19))
    assert len(frames) == 40
    proc, first, second = two_anthropic(router_process, fake_upstreams, "text")
    body = json.loads((FIXTURES / "claude_code_sonnet45_budget_thinking.json").read_text())["body"]
    for offset in range(1, 40):
        cut_and_continue(first, second, frames, offset)
        message = stream_final(proc.url, body)
        texts = [b.text for b in message.content if b.type == "text"]
        assert texts == [TEXT], offset
        thinking = [b.thinking for b in message.content if b.type == "thinking"]
        if offset > 3:  # the thinking block had started: the client keeps what it got
            assert len(thinking) == 1 and THINKING.startswith(thinking[0]), offset
        assert message.content[-1].type == "text"
    assert all(
        "thinking" not in b for b in second.bodies() if b["messages"][-1]["role"] == "assistant"
    )


def test_text_then_tool_call_held_with_resume_all(router_process: Any, fake_upstreams: Any) -> None:
    args = json.dumps(TOOL_INPUT)
    frames = anthropic_answer(text=pieces(TEXT[:120], 20), tool=pieces(args, 12))
    assert len(frames) == 40
    proc, first, second = two_anthropic(router_process, fake_upstreams, "all")
    body = claude_code_body()
    text = TEXT[:120]
    for offset in range(1, 40):
        first.script(Answer.sse(frames, cut_after=offset))
        sent, ended = sent_text(frames, offset, hold_tools=True)
        tool_done = any('"content_block_stop"' in f and '"index": 1' in f for f in frames[:offset])
        if not ended and not tool_done:
            resumed_at = len(sent) - len(repeated_tail(sent, offset))
            rest = text[resumed_at:] if resumed_at < len(text) else ""
            second.script(Answer.sse(continuation(rest, tool=pieces(args, 3))))
        message = stream_final(proc.url, body)
        assert [b.type for b in message.content] == ["text", "tool_use"], offset
        assert message.content[0].text == text, offset
        call = message.content[1]
        assert (call.name, call.input) == ("Read", TOOL_INPUT), offset
        assert message.stop_reason == "tool_use", offset


def test_chat_completions_text_cut_at_every_offset(
    router_process: Any, fake_upstreams: Any
) -> None:
    import openai

    from coderouter.testing import chat_stream

    frames = chat_stream(pieces(TEXT, 36), prompt_tokens=100, completion_tokens=50)
    assert len(frames) == 40
    proc, first, second = two_providers(router_process, fake_upstreams)
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="k", max_retries=0)
    messages: Any = [{"role": "user", "content": "review the config loader"}]
    for offset in range(1, 40):
        first.script(Answer.sse(frames, cut_after=offset))
        sent = "".join(
            json.loads(f[6:])["choices"][0]["delta"].get("content") or ""
            for f in frames[:offset]
            if f.startswith("data: {") and json.loads(f[6:])["choices"]
        )
        ended = any('"finish_reason": "stop"' in f for f in frames[:offset])
        if not ended:
            resumed_at = len(sent) - len(repeated_tail(sent, offset))
            rest = TEXT[resumed_at:]
            second.script(Answer.sse(chat_stream(pieces(rest, 4), completion_tokens=20)))
        with client.chat.completions.stream(
            model="m", messages=messages, stream_options={"include_usage": True}
        ) as stream:
            final = stream.get_final_completion()
        assert final.choices[0].message.content == TEXT, offset
        assert final.choices[0].finish_reason == "stop", offset
        assert final.usage is not None
    continued = [b for b in second.bodies() if b["messages"][-1]["role"] == "assistant"]
    assert continued and all("do not repeat it" in b["messages"][0]["content"] for b in continued)


def codex_request() -> dict[str, Any]:
    """The recorded codex turn as ``responses.stream`` keyword arguments."""
    data = json.loads((FIXTURES / "codex_responses_turn0.json").read_text())
    body: dict[str, Any] = dict(data["body"])
    body.pop("stream")
    body["model"] = "m"
    body["extra_body"] = {"client_metadata": body.pop("client_metadata")}
    return body


def responses_final(url: str, request: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The openai SDK's accumulated Response, and the events it was built from."""
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
    with client.responses.stream(**request) as stream:
        events = list(stream)
        return stream.get_final_response(), events


def assert_one_responses_stream(final: Any, events: list[Any], offset: int) -> None:
    """One ``response.created`` and one ``response.completed`` with the same id, and every
    event of an item carrying the id its ``output_item.added`` gave it."""
    kinds = [e.type for e in events]
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers)), (offset, numbers)
    assert kinds.count("response.created") == 1, offset
    assert kinds.count("response.completed") == 1 and kinds[-1] == "response.completed", offset
    assert events[0].response.id == final.id, offset
    added = {e.output_index: e.item.id for e in events if e.type == "response.output_item.added"}
    assert sorted(added) == list(range(len(final.output))), offset
    for event in events:
        if hasattr(event, "item_id") and hasattr(event, "output_index"):
            assert event.item_id == added[event.output_index], (offset, event.type)
    assert [item.id for item in final.output] == [added[i] for i in sorted(added)], offset


def test_responses_text_cut_at_every_offset(router_process: Any, fake_upstreams: Any) -> None:
    from coderouter.testing import chat_stream, responses_stream

    frames = responses_stream(pieces(TEXT, 32), input_tokens=100, output_tokens=50)
    assert len(frames) == 40
    proc, first, second = two_providers(
        router_process, fake_upstreams, first={"kind": "openai_responses"}
    )
    request = codex_request()
    for offset in range(1, 40):
        first.script(Answer.sse(frames, cut_after=offset))
        sent = "".join(
            json.loads(f.split("data: ", 1)[1]).get("delta", "")
            for f in frames[:offset]
            if "response.output_text.delta" in f
        )
        resumed_at = len(sent) - len(repeated_tail(sent, offset))
        rest = TEXT[resumed_at:]  # empty when the cut came after the last text delta
        answer = chat_stream(pieces(rest, 4) if rest else [], completion_tokens=20)
        second.script(Answer.sse(answer))
        final, events = responses_final(proc.url, request)
        assert [item.type for item in final.output] == ["message"], offset
        assert final.output_text == TEXT, offset
        assert final.status == "completed", offset
        assert_one_responses_stream(final, events, offset)
        assert final.usage is not None and final.usage.output_tokens >= 20, offset
    assert all(b["stream"] is True for b in first.bodies() + second.bodies())
    continued = [b for b in second.bodies() if b["messages"][-1]["role"] == "assistant"]
    assert len(continued) == 39 - 4  # cuts before the first text delta are plain fallbacks


def test_responses_function_call_held_with_resume_all(
    router_process: Any, fake_upstreams: Any
) -> None:
    from coderouter.testing import chat_stream, responses_stream

    text = TEXT[:120]
    call = {"id": "call_read", "name": "exec_command", "arguments": {"cmd": "cat README.md"}}
    frames = chat_stream(pieces(text, 20), tool_calls=[call], argument_pieces=15)
    assert len(frames) == 40
    proc, first, second = two_providers(
        router_process, fake_upstreams, second={"kind": "openai_responses"}, resume="all"
    )
    request = codex_request()
    for offset in range(1, 40):
        cut_chat_and_continue(
            first, second, frames, offset, text=text, call=call, answer=responses_stream
        )
        final, events = responses_final(proc.url, request)
        assert [item.type for item in final.output] == ["message", "function_call"], offset
        assert final.output_text == text, offset
        function = final.output[1]
        assert function.name == "exec_command", offset
        assert json.loads(function.arguments) == call["arguments"], offset
        assert_one_responses_stream(final, events, offset)


def test_chat_completions_text_then_tool_call_held_with_resume_all(
    router_process: Any, fake_upstreams: Any
) -> None:
    import openai

    from coderouter.testing import chat_stream

    text = TEXT[:120]
    call = {"id": "call_read", "name": "read_file", "arguments": TOOL_INPUT}
    frames = chat_stream(pieces(text, 20), tool_calls=[call], argument_pieces=15)
    assert len(frames) == 40
    proc, first, second = two_providers(router_process, fake_upstreams, resume="all")
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key="k", max_retries=0)
    messages: Any = [{"role": "user", "content": "read the config loader"}]
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        }
    ]
    for offset in range(1, 40):
        cut_chat_and_continue(
            first, second, frames, offset, text=text, call=call, answer=chat_stream
        )
        with client.chat.completions.stream(
            model="m", messages=messages, tools=tools, stream_options={"include_usage": True}
        ) as stream:
            final = stream.get_final_completion()
        message = final.choices[0].message
        assert message.content == text, offset
        assert message.tool_calls is not None and len(message.tool_calls) == 1, offset
        function = message.tool_calls[0].function
        assert function.name == "read_file", offset
        assert json.loads(function.arguments) == TOOL_INPUT, offset
        assert final.choices[0].finish_reason == "tool_calls", offset
    continued = second.bodies()
    assert len(continued) == 37  # every cut before the finish chunk
    assert all(b["stream"] is True for b in first.bodies() + continued)
    prefilled = [b for b in continued if b["messages"][-1]["role"] == "assistant"]
    assert prefilled and all("tool_calls" not in b["messages"][-1] for b in prefilled)
