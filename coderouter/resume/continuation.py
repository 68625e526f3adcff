"""The request that asks the next provider to continue an answer that broke off."""

from __future__ import annotations

from typing import Literal

import attrs

from coderouter.resume.sent import SentState
from coderouter.types import Usage
from coderouter.wire.model import Block, Message, Request

__all__ = [
    "CONTINUE_NOTE",
    "Plan",
    "ResumeMode",
    "continuation_request",
    "estimated_usage",
    "plan_resume",
    "sum_usage",
]

CONTINUE_NOTE = (
    "Your previous reply was cut off. The last assistant message is what you had written so "
    "far: continue exactly where the text stops; do not repeat it."
)

ResumeMode = Literal["off", "text", "all"]


@attrs.define(slots=True, frozen=True)
class Plan:
    """What to do with a broken stream: ``continue`` on the next provider, ``close`` it here
    (everything the answer needs was sent), or ``give_up`` (``reason`` says why)."""

    action: Literal["continue", "close", "give_up"]
    reason: str = ""


def plan_resume(state: SentState, mode: ResumeMode) -> Plan:
    if state.message_ended:
        return Plan("close", "cut after the stop reason")
    opened = state.open_block
    if opened is not None and opened.kind == "tool_use":
        hint = "" if mode == "all" else ' (router.resume = "all" would have held it back)'
        return Plan("give_up", f"cut inside a tool call the client already received{hint}")
    if opened is None and state.blocks and state.blocks[-1].kind == "tool_use":
        return Plan("close", "cut after a complete tool call")
    return Plan("continue")


def continuation_request(original: Request, state: SentState, *, native_prefill: bool) -> Request:
    """``original`` with the answer so far as a trailing assistant turn. Targets that continue
    a prefill natively (Anthropic) get it as is; the others also get a system note asking them
    to continue it. Thinking is off: a signed thinking block cannot be continued elsewhere.

    When nothing but thinking was sent, the request is the original one: the next provider
    answers from the start and its blocks follow the closed thinking block."""
    prefill = state.prefill()
    if not prefill:
        return attrs.evolve(original, dropped=dict(original.dropped))
    messages: list[Message] = list(original.messages)
    if messages and messages[-1].get("role") == "assistant":
        messages[-1] = {
            **messages[-1],
            "content": _joined(_as_blocks(messages[-1].get("content")), prefill),
        }
    else:
        messages.append({"role": "assistant", "content": prefill})
    system = list(original.system)
    if not native_prefill:
        system.append({"type": "text", "text": CONTINUE_NOTE})
    return attrs.evolve(
        original,
        messages=messages,
        system=system,
        thinking=None,
        dropped=dict(original.dropped),
    )


def _as_blocks(content: object) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict) and b.get("type") != "thinking"]
    return []


def _joined(before: list[Block], after: list[Block]) -> list[Block]:
    """Blocks of a client prefill followed by the answer's, the text at the seam joined."""
    if before and after and before[-1].get("type") == "text" and after[0]["type"] == "text":
        seam = {"type": "text", "text": before[-1].get("text", "") + after[0]["text"]}
        return [*before[:-1], seam, *after[1:]]
    return [*before, *after]


def sum_usage(first: Usage, second: Usage) -> Usage:
    return Usage(
        first.input_tokens + second.input_tokens,
        first.output_tokens + second.output_tokens,
        first.cache_read_tokens + second.cache_read_tokens,
        first.cache_write_tokens + second.cache_write_tokens,
        first.reasoning_tokens + second.reasoning_tokens,
    )


CHARS_PER_TOKEN = 4


def estimated_usage(reported: Usage, sent_chars: int) -> Usage:
    """A broken stream's usage: what it reported, with output tokens estimated from the
    characters it sent when it reported fewer (most providers report output only at the
    end)."""
    estimate = sent_chars // CHARS_PER_TOKEN
    usage = attrs.evolve(reported)
    usage.output_tokens = max(usage.output_tokens, estimate)
    return usage
