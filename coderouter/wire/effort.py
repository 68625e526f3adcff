"""Thinking budgets and reasoning efforts: the Anthropic ``thinking`` setting and the OpenAI
``reasoning_effort`` / Responses ``reasoning.effort`` levels, both ways."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["EFFORT_BUDGETS", "ThinkingSupport", "effort_for", "thinking_for", "wants_thinking"]

EFFORT_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
"""The thinking budget each effort level stands for."""


@attrs.define(slots=True, frozen=True)
class ThinkingSupport:
    """What an upstream target can do with a thinking setting: ``can_think`` (``None`` when
    unknown) and ``template_switch``, a ``chat_template_kwargs`` key that turns a hybrid
    model's thinking on and off (Qwen3's ``enable_thinking`` on llama.cpp and vLLM)."""

    can_think: bool | None = None
    template_switch: str | None = None


def wants_thinking(thinking: dict[str, Any] | None) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")


def effort_for(thinking: dict[str, Any] | None) -> str | None:
    """The effort level of a thinking setting; ``None`` when thinking is off."""
    if not wants_thinking(thinking):
        return None
    assert thinking is not None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        return "medium"
    if budget <= EFFORT_BUDGETS["low"]:
        return "low"
    return "medium" if budget <= EFFORT_BUDGETS["medium"] else "high"


def thinking_for(effort: Any) -> dict[str, Any] | None:
    """The thinking setting an OpenAI effort level asks for (Chat ``reasoning_effort``,
    Responses ``reasoning.effort``): a budget from :data:`EFFORT_BUDGETS`, ``disabled`` for
    ``none``, and ``None`` (no setting) for anything else."""
    if effort == "none":
        return {"type": "disabled"}
    budget = EFFORT_BUDGETS.get(effort) if isinstance(effort, str) else None
    return {"type": "enabled", "budget_tokens": budget} if budget else None
