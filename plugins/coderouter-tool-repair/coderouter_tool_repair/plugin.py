"""The ``tool_repair`` plugin: decides which attempts are repaired and keeps the totals."""

from __future__ import annotations

from collections import Counter
from typing import Any

from coderouter import Plugin, hookimpl
from coderouter.config import Config as HostConfig
from coderouter.config import ProviderConfig
from coderouter.types import Attempt, RequestView
from coderouter_tool_repair.calls import ToolSet
from coderouter_tool_repair.config import ToolRepairConfig, check_providers
from coderouter_tool_repair.transform import Outcome, ToolRepairTransform, new_call_id

__all__ = ["ToolRepairPlugin", "declared_tools"]

LOG_KEY = "tool_repair"


def declared_tools(request: RequestView) -> ToolSet | None:
    """The request's tools, or ``None`` when it declared none or forbade calls
    (``tool_choice`` none)."""
    if not request.body.get("tools"):
        return None
    conversation = request.conversation()
    choice = conversation.tool_choice
    if choice is not None and choice.get("type") == "none":
        return None
    tools = ToolSet(conversation.tools)
    return tools if tools else None


class ToolRepairPlugin(Plugin):
    """Turns tool calls written as text into real tool calls."""

    Config = ToolRepairConfig

    def __init__(
        self,
        config: ToolRepairConfig | None = None,
        profile_configs: dict[str, ToolRepairConfig] | None = None,
    ) -> None:
        super().__init__(config or ToolRepairConfig(), profile_configs)
        self.totals: Counter[str] = Counter()
        self.by_tool: Counter[str] = Counter()

    def applies_to(self, profile: str, provider: ProviderConfig) -> bool:
        config: ToolRepairConfig = self.config_for(profile)
        if config.enabled_providers is None:
            return provider.kind == "openai"
        return provider.name in config.enabled_providers

    @hookimpl
    def check_config(self, config: HostConfig) -> None:
        configs = {"plugins.tool_repair": self.config}
        for name, settings in self.profile_configs.items():
            configs[f"profiles.{name}.plugins.tool_repair"] = settings
        check_providers(configs, config)

    @hookimpl
    def stream_transforms(self, attempt: Attempt) -> ToolRepairTransform | None:
        if not self.applies_to(attempt.profile, attempt.provider):
            return None
        tools = declared_tools(attempt.request)
        if tools is None:
            return None
        config: ToolRepairConfig = self.config_for(attempt.profile)
        prefix = "toolu_" if attempt.request.ingress == "anthropic" else "call_"

        def done(outcome: Outcome) -> None:
            self._record(attempt, outcome)

        return ToolRepairTransform(
            tools, max_hold=config.max_hold_chars, new_id=lambda: new_call_id(prefix), on_done=done
        )

    def _record(self, attempt: Attempt, outcome: Outcome) -> None:
        self.totals["overflows"] += outcome.overflows
        if outcome.calls:
            self.totals["responses_repaired"] += 1
            self.totals["calls_recovered"] += len(outcome.calls)
            self.by_tool.update(call.name for call in outcome.calls)
            attempt.log_fields[LOG_KEY] = {"calls": [c.name for c in outcome.calls]}
        elif outcome.ignored:
            self.totals["ignored_beside_structured_calls"] += outcome.ignored
            attempt.log_fields[LOG_KEY] = {
                "ignored": outcome.ignored,
                "reason": "upstream made structured calls",
            }

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        return {"totals": dict(self.totals), "calls_by_tool": dict(self.by_tool)}
