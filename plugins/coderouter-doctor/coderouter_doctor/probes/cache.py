"""``cache``: for Anthropic-kind providers that declare prompt caching, two identical calls
with a cached system block; the second must read from the cache."""

from __future__ import annotations

import secrets

from coderouter.types import UpstreamError
from coderouter.wire.model import Request
from coderouter_doctor.coverage import capability_patch
from coderouter_doctor.probe import ProbeContext, ProbeResult
from coderouter_doctor.probes.errors import from_error

__all__ = ["Cache", "cached_request"]

BLOCK_TOKENS = 2300
"""Above the largest minimum cacheable prompt (2048 tokens on the smaller Claude models)."""


def cached_request(nonce: str) -> Request:
    lines = [f"Reference sheet {nonce}."]
    lines += [
        f"Rule {i}: entry {i} maps to value {i * 7 % 101}." for i in range(BLOCK_TOKENS // 12)
    ]
    block = {"type": "text", "text": "\n".join(lines), "cache_control": {"type": "ephemeral"}}
    return Request(
        model="",
        system=[block],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say OK."}]}],
        max_tokens=8,
    )


class Cache:
    name = "cache"
    required = False

    def __init__(self, nonce: str | None = None) -> None:
        self.nonce = nonce

    def applies(self, context: ProbeContext) -> str | None:
        """Why this provider is not probed, or ``None``."""
        if context.provider.kind != "anthropic":
            return "not an Anthropic-kind provider"
        if context.capabilities.cache_control is not True:
            return "prompt caching not declared (capabilities.cache_control)"
        return None

    def estimated_tokens(self, context: ProbeContext) -> int:
        return 0 if self.applies(context) else 2 * (BLOCK_TOKENS + 20)

    async def run(self, context: ProbeContext) -> ProbeResult:
        why_not = self.applies(context)
        if why_not is not None:
            return context.result(self.name, "skip", why_not)
        request = cached_request(self.nonce or secrets.token_hex(4))
        try:
            first = await context.client.send(request)
            second = await context.client.send(request)
        except UpstreamError as err:
            return from_error(self.name, context, err)
        read = second.response.usage.cache_read_tokens
        written = first.response.usage.cache_write_tokens
        metrics = {"cache_write_tokens": written, "cache_read_tokens": read}
        if read > 0:
            return context.result(
                self.name,
                "ok",
                f"the second call read {read} tokens from the cache",
                metrics=metrics,
            )
        return context.result(
            self.name,
            "needs_tuning",
            "the second of two identical calls read nothing from the cache "
            f"(the first wrote {written})",
            patch=capability_patch(context.provider, cache_control=False),
            metrics=metrics,
        )
