"""``thinking`` and ``reasoning-leak``: what a model's reasoning does to its answers.

``thinking`` asks for thinking where the wire format carries it (Anthropic, Responses) and
looks for reasoning fields (``reasoning_content``, ``reasoning``) in Chat Completions answers.
``reasoning-leak`` looks for ``<think>`` blocks and chat-template stop markers written into
the answer text, after the output filters the router would run.
"""

from __future__ import annotations

from coderouter_output_filters import DEFAULT_STOP_MARKERS, THINK_TAGS

from coderouter.types import UpstreamError
from coderouter_doctor.client import Reply, user_request
from coderouter_doctor.coverage import (
    capability_patch,
    filtered_text,
    output_filters_patch,
    output_filters_settings,
)
from coderouter_doctor.patch import Patch
from coderouter_doctor.probe import ProbeContext, ProbeResult
from coderouter_doctor.probes.errors import from_error, one_line

__all__ = ["ReasoningLeak", "Thinking", "leaks_in"]

QUESTION = "What is 17 + 25? Answer with the number only."
THINKING_BUDGET = 1024
_MARKERS = tuple(dict.fromkeys(m.split("…", 1)[0] for m in DEFAULT_STOP_MARKERS))
_TAGS = tuple(tag for pair in THINK_TAGS for tag in pair)


def leaks_in(text: str) -> tuple[list[str], list[str]]:
    """The think tags and the stop markers found in ``text``."""
    return [t for t in _TAGS if t in text], [m for m in _MARKERS if m in text]


def _reasoning_field(reply: Reply) -> str | None:
    """The Chat Completions field the reasoning came in."""
    body = reply.body or {}
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {} if isinstance(choices[0], dict) else {}
    for field in ("reasoning_content", "reasoning"):
        if message.get(field):
            return field
    return None


class Thinking:
    name = "thinking"
    required = False

    def sends_thinking(self, context: ProbeContext) -> bool:
        return context.provider.kind in ("anthropic", "openai_responses")

    def estimated_tokens(self, context: ProbeContext) -> int:
        return 2 * THINKING_BUDGET + 100 if self.sends_thinking(context) else 300

    async def run(self, context: ProbeContext) -> ProbeResult:
        if self.sends_thinking(context):
            return await self._asked(context)
        return await self._reasoning_fields(context)

    async def _asked(self, context: ProbeContext) -> ProbeResult:
        declared = context.capabilities.thinking
        if declared is False:
            return context.result(self.name, "skip", "capabilities.thinking = false")
        request = user_request(
            "What is 12 * 13? Think it through, then answer.",
            max_tokens=2 * THINKING_BUDGET,
            thinking={"type": "enabled", "budget_tokens": THINKING_BUDGET},
        )
        try:
            reply = await context.client.send(request)
        except UpstreamError as err:
            if err.status != 400:
                return from_error(self.name, context, err)
            return context.result(
                self.name,
                "needs_tuning",
                f"HTTP 400 on a request with thinking: {one_line(err.message, 120)}",
                patch=capability_patch(context.provider, thinking=False),
            )
        if reply.blocks("thinking") or reply.blocks("redacted_thinking"):
            return context.result(self.name, "ok", "answered with a thinking block")
        if declared:
            return context.result(
                self.name,
                "needs_tuning",
                "capabilities.thinking = true, but the answer has no thinking block",
                patch=capability_patch(context.provider, thinking=False),
            )
        return context.result(
            self.name, "unsupported", "thinking accepted, but the answer has no thinking block"
        )

    async def _reasoning_fields(self, context: ProbeContext) -> ProbeResult:
        try:
            reply = await context.client.send(user_request(QUESTION, max_tokens=512))
        except UpstreamError as err:
            return from_error(self.name, context, err)
        field = _reasoning_field(reply)
        if field is None:
            return context.result(self.name, "ok", "no reasoning field in the answer")
        caps = context.capabilities
        flags: dict[str, object] = {}
        if caps.thinking is not True:
            flags["thinking"] = True
        if caps.reasoning_field != field:
            flags["reasoning_field"] = field
        settings = output_filters_settings(context.config, context.provider)
        handled = settings is not None and settings.reasoning != "pass"
        ops = capability_patch(context.provider, **flags).ops if flags else ()
        if not handled:
            ops += output_filters_patch(
                context.config, context.provider, think=False, markers=[], reasoning=True
            ).ops
        if not ops:
            how = (
                "removes it"
                if settings and settings.reasoning == "strip"
                else "keeps it as thinking"
            )
            return context.result(
                self.name, "ok", f"reasoning arrives in {field}; output_filters {how}"
            )
        why = "" if handled else " and reaches clients as thinking blocks"
        return context.result(
            self.name,
            "needs_tuning",
            f"reasoning arrives in {field}{why}",
            patch=Patch(ops),
        )


class ReasoningLeak:
    name = "reasoning-leak"
    required = False

    def estimated_tokens(self, context: ProbeContext) -> int:
        return 300

    async def run(self, context: ProbeContext) -> ProbeResult:
        try:
            reply = await context.client.send(user_request(QUESTION, max_tokens=512))
        except UpstreamError as err:
            return from_error(self.name, context, err)
        tags, markers = leaks_in(reply.text)
        if not tags and not markers:
            return context.result(self.name, "ok", "no <think> tags or stop markers in the answer")
        found = ", ".join([*tags, *markers])
        left_tags, left_markers = leaks_in(
            filtered_text(context.config, context.provider, reply.text)
        )
        if not left_tags and not left_markers:
            return context.result(
                self.name, "ok", f"the answer carries {found}; output_filters removes it"
            )
        return context.result(
            self.name,
            "needs_tuning",
            f"the answer carries {found}",
            patch=output_filters_patch(
                context.config,
                context.provider,
                think=bool(left_tags),
                markers=left_markers,
                reasoning=False,
            ),
        )
