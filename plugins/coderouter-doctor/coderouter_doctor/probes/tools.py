"""``tools``: one declared tool and a question that needs it. The answer is a native tool
call, a tool call written as text (the tool_repair scanner decides) or no call at all, and is
held against what the capability registry declares."""

from __future__ import annotations

from typing import Any

from coderouter_tool_repair import repair_text

from coderouter.types import UpstreamError
from coderouter_doctor.client import user_request
from coderouter_doctor.coverage import capability_patch, tool_repair_covers, tool_repair_patch
from coderouter_doctor.probe import ProbeContext, ProbeResult
from coderouter_doctor.probes.errors import from_error, one_line

__all__ = ["TOOL", "Tools"]

TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}
PROMPT = "What is the weather in Paris right now? Call the get_weather tool."


class Tools:
    name = "tools"
    required = False

    def estimated_tokens(self, context: ProbeContext) -> int:
        return 300

    async def run(self, context: ProbeContext) -> ProbeResult:
        declared = context.capabilities.tools
        request = user_request(PROMPT, max_tokens=256, tools=[TOOL])
        try:
            reply = await context.client.send(request)
        except UpstreamError as err:
            if err.status == 400 and "tool" in err.message.lower():
                return self._none(
                    context, f"HTTP 400 on a request with tools: {one_line(err.message, 120)}"
                )
            return from_error(self.name, context, err)
        if reply.blocks("tool_use"):
            if declared is False:
                return context.result(
                    self.name,
                    "needs_tuning",
                    "native tool call, but capabilities.tools = false keeps tool requests away",
                    patch=capability_patch(context.provider, tools=True),
                )
            return context.result(self.name, "ok", "native tool call")
        _, calls = repair_text(reply.text, [TOOL])
        if calls:
            if tool_repair_covers(context.config, context.provider):
                return context.result(
                    self.name, "ok", "tool call written as text; tool_repair turns it into a call"
                )
            return context.result(
                self.name,
                "needs_tuning",
                "tool call written as text: clients see prose where they expect a call",
                patch=tool_repair_patch(context.config, context.provider),
            )
        return self._none(context, "no tool call in the answer")

    def _none(self, context: ProbeContext, why: str) -> ProbeResult:
        if context.capabilities.tools is False:
            return context.result(self.name, "unsupported", f"{why}; capabilities.tools = false")
        return context.result(
            self.name,
            "needs_tuning",
            f"{why}; declare it so tool requests go to other providers first",
            patch=capability_patch(context.provider, tools=False),
        )
