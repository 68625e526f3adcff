"""``reach``: one short chat turn. Every other probe of the provider needs it to pass."""

from __future__ import annotations

from coderouter.types import UpstreamError
from coderouter_doctor.client import user_request
from coderouter_doctor.probe import ProbeContext, ProbeResult
from coderouter_doctor.probes.errors import from_error

__all__ = ["Reach"]

PROMPT = "Reply with one word: pong"


class Reach:
    name = "reach"
    required = True

    def estimated_tokens(self, context: ProbeContext) -> int:
        return 40

    async def run(self, context: ProbeContext) -> ProbeResult:
        provider = context.provider
        if provider.api_key_env and not provider.api_key:
            return context.result(
                self.name,
                "auth_fail",
                f"${provider.api_key_env} is not set (the provider's api_key_env); not sent",
            )
        try:
            reply = await context.client.send(user_request(PROMPT, max_tokens=16))
        except UpstreamError as err:
            return from_error(self.name, context, err)
        return context.result(
            self.name,
            "ok",
            f"answered in {reply.elapsed_s:.2f} s",
            metrics={"latency_s": round(reply.elapsed_s, 3)},
        )
