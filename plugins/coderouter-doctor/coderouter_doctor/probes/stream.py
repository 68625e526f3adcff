"""``stream`` and ``speed``: streamed answers.

``stream`` asks for a count with no ``max_tokens`` (as many clients send it) and checks that
content arrives, that the stream ends properly and that it is not stopped short by the
server's own output limit. ``speed`` reports the time to the first token and the output rate.
"""

from __future__ import annotations

from coderouter.types import UpstreamError
from coderouter.wire.model import TextDelta
from coderouter.wire.tokens import CHARS_PER_TOKEN
from coderouter_doctor.backend import output_advice
from coderouter_doctor.client import Reply, user_request
from coderouter_doctor.probe import ProbeContext, ProbeResult
from coderouter_doctor.probes.errors import from_error, one_line

__all__ = ["SHORT_ANSWER_TOKENS", "Speed", "Stream"]

COUNT_PROMPT = "Count from 1 to 30, separated by spaces. Output only the numbers."
SHORT_ANSWER_TOKENS = 48
"""A count to 30 is about 60 tokens; stopped at the length limit before this, the server's own
output limit is tiny."""
MAX_TEXT_CHARS = 4000
SPEED_PROMPT = "Write four sentences about rivers."
SPEED_TOKENS = 128


def _output_tokens(reply: Reply) -> int:
    """The reported output tokens, else an estimate from the answer text."""
    reported = reply.response.usage.output_tokens
    if reported or not reply.text:
        return reported
    return max(1, len(reply.text) // CHARS_PER_TOKEN)


class Stream:
    name = "stream"
    required = False

    def estimated_tokens(self, context: ProbeContext) -> int:
        return 400

    async def run(self, context: ProbeContext) -> ProbeResult:
        try:
            reply = await context.client.stream(
                user_request(COUNT_PROMPT, max_tokens=None), max_text_chars=MAX_TEXT_CHARS
            )
        except UpstreamError as err:
            return from_error(self.name, context, err)
        chunks = sum(1 for e in reply.events if isinstance(e, TextDelta) and e.text)
        if reply.stopped_early:
            return context.result(
                self.name,
                "ok",
                f"{chunks} chunks past {MAX_TEXT_CHARS} characters; stopped reading",
            )
        problem = self._broken(context, reply, chunks)
        if problem is not None:
            return problem
        tokens = _output_tokens(reply)
        if reply.response.stop_reason == "max_tokens" and tokens < SHORT_ANSWER_TOKENS:
            return context.result(
                self.name,
                "needs_tuning",
                f"the stream stopped at the length limit after {tokens} tokens: the server's "
                "default output limit cuts answers short",
                advice=output_advice(context.provider),
                metrics={"output_tokens": tokens},
            )
        if not reply.text.strip():
            return context.result(
                self.name, "unsupported", "the stream finished with an empty answer"
            )
        end = f"finish {reply.response.stop_reason}"
        if context.provider.kind == "openai" and not reply.done_marker:
            end += ", no data: [DONE] (the router takes the finish reason as the end)"
        elif context.provider.kind == "openai":
            end += ", [DONE]"
        return context.result(self.name, "ok", f"{chunks} chunks, {end}")

    def _broken(self, context: ProbeContext, reply: Reply, chunks: int) -> ProbeResult | None:
        if reply.response.error is not None:
            error = reply.response.error
            return context.result(
                self.name,
                "transport_error",
                f"error event in the stream: {error.error_type}: {one_line(error.message, 120)}",
            )
        if reply.cut:
            when = "before any content" if not chunks else f"after {chunks} chunks"
            return context.result(
                self.name,
                "transport_error",
                f"the stream broke off {when}: {one_line(reply.cut, 120)}",
            )
        if not reply.complete:
            return context.result(
                self.name,
                "transport_error",
                "the stream ended without a finish reason or end event: "
                "the router treats it as cut",
            )
        if not chunks and not reply.response.content:
            return context.result(
                self.name,
                "unsupported",
                f"the stream carried no content ({len(reply.frames)} frames)",
            )
        return None


class Speed:
    name = "speed"
    required = False

    def estimated_tokens(self, context: ProbeContext) -> int:
        return SPEED_TOKENS + 30

    async def run(self, context: ProbeContext) -> ProbeResult:
        try:
            reply = await context.client.stream(user_request(SPEED_PROMPT, max_tokens=SPEED_TOKENS))
        except UpstreamError as err:
            return from_error(self.name, context, err)
        if reply.ttft_s is None:
            return context.result(self.name, "unsupported", "no tokens streamed")
        tokens = _output_tokens(reply)
        generating = reply.elapsed_s - reply.ttft_s
        rate = tokens / generating if generating > 0 else None
        metrics = {
            "ttft_s": round(reply.ttft_s, 3),
            "output_tokens": tokens,
            "tokens_per_s": None if rate is None else round(rate, 1),
        }
        shown = "n/a" if rate is None else f"{rate:.1f}"
        return context.result(
            self.name,
            "ok",
            f"first token after {reply.ttft_s:.2f} s, {shown} tokens/s over {tokens} tokens",
            metrics=metrics,
        )
