"""``context``: a canary at the start of a long prompt, asked back at its end.

A server that keeps fewer tokens than it was sent drops the start of the prompt (Ollama cuts
to ``num_ctx``) or refuses it (llama.cpp answers 400 past ``n_ctx``); either way the canary is
lost, and the tokens the server did keep are the usable context.
"""

from __future__ import annotations

import json
import re

from coderouter.types import UpstreamError
from coderouter.wire.tokens import estimate_request_tokens
from coderouter_doctor.backend import context_advice
from coderouter_doctor.client import user_request
from coderouter_doctor.coverage import capability_patch
from coderouter_doctor.probe import ProbeContext, ProbeResult
from coderouter_doctor.probes.errors import from_error, one_line

__all__ = ["Context", "canary_prompt", "context_of_error"]

CANARY_WORD = "MARIGOLD"
CANARY_NUMBER = "4417"
TARGET_TOKENS = 6000
MIN_TOKENS = 256
KEPT_WHOLE = 0.75
"""A server reporting fewer prompt tokens than this share of the estimate cut the prompt (the
estimate is a few tens of percent off at most; a cut to ``num_ctx`` loses far more)."""

_COLOURS = ("red", "green", "blue", "amber", "violet", "grey", "white", "black", "teal")
_THINGS = ("crate", "lamp", "rope", "kettle", "ladder", "basket", "anvil", "drum", "sail")
_CONTEXT_PATTERNS = (
    re.compile(r"available context size \((\d+) tokens?\)"),
    re.compile(r"\bn_ctx(?:_slot)?\s*[=:]?\s*(\d+)"),
    re.compile(r"maximum context length is (\d+) tokens"),
    re.compile(r"context (?:length|window|size) (?:of|is) (?:only )?(\d+)"),
)


def canary_prompt(tokens: int) -> str:
    """About ``tokens`` tokens: the canary, inventory notes, then the question."""
    lines = [f"The secret code is {CANARY_WORD}-{CANARY_NUMBER}. Remember it.", ""]
    budget = tokens * 4 - 200
    i = 0
    while budget > 0:
        colour, thing = _COLOURS[i % len(_COLOURS)], _THINGS[(i // len(_COLOURS)) % len(_THINGS)]
        line = f"Another note: the {colour} {thing} is kept on the shelf beside the door."
        lines.append(line)
        budget -= len(line) + 1
        i += 1
    lines += ["", "What is the secret code given at the very start? Answer with the code only."]
    return "\n".join(lines)


def context_of_error(err: UpstreamError) -> int | None:
    """The server's context size named in a context-overflow error, if it names one."""
    try:
        body = json.loads(err.body) if err.body else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        n_ctx = body["error"].get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            return n_ctx
    for pattern in _CONTEXT_PATTERNS:
        found = pattern.search(f"{err.message} {err.body}")
        if found:
            return int(found.group(1))
    return None


def _recalled(text: str) -> bool:
    return CANARY_NUMBER in text or CANARY_WORD.lower() in text.lower()


class Context:
    name = "context"
    required = False

    def size(self, context: ProbeContext) -> int:
        """The prompt size: about 6k tokens, or three quarters of a smaller declared window."""
        declared = context.capabilities.max_context_tokens
        if declared is None:
            return TARGET_TOKENS
        return max(MIN_TOKENS, min(TARGET_TOKENS, declared * 3 // 4))

    def estimated_tokens(self, context: ProbeContext) -> int:
        return self.size(context) + 40

    async def run(self, context: ProbeContext) -> ProbeResult:
        size = self.size(context)
        request = user_request(canary_prompt(size), max_tokens=32)
        sent = estimate_request_tokens(request)
        try:
            reply = await context.client.send(request)
        except UpstreamError as err:
            usable = context_of_error(err) if err.status in (400, 413) else None
            if usable is None:
                return from_error(self.name, context, err)
            return self._too_small(
                context, usable, f"HTTP {err.status}: {one_line(err.message, 120)}", sent
            )
        kept = reply.response.usage.total_input_tokens
        metrics = {"sent_tokens": sent, "kept_tokens": kept}
        if _recalled(reply.text):
            return context.result(
                self.name,
                "ok",
                f"a {kept or sent}-token prompt kept whole: the canary came back",
                metrics=metrics,
            )
        if kept and kept < sent * KEPT_WHOLE:
            return self._too_small(
                context, kept, f"the server kept {kept} of about {sent} prompt tokens", sent
            )
        where = f"({kept} tokens)" if kept else "(the server reports no prompt tokens)"
        return context.result(
            self.name,
            "unsupported",
            f"the prompt reached the model {where} but the canary did not come back: "
            f"the model does not recall across {size} tokens",
            metrics=metrics,
        )

    def _too_small(self, context: ProbeContext, usable: int, why: str, sent: int) -> ProbeResult:
        declared = context.capabilities.max_context_tokens
        patch = (
            None
            if declared == usable
            else capability_patch(context.provider, max_context_tokens=usable)
        )
        return context.result(
            self.name,
            "needs_tuning",
            f"canary lost: {why}; usable context {usable} tokens",
            patch=patch,
            advice=context_advice(context.provider, usable, max(32768, 2 * sent)),
            metrics={"sent_tokens": sent, "usable_context_tokens": usable},
        )
