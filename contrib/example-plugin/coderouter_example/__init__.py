"""An example in-house plugin, written the way a third party would write one.

It adds a response header naming the team that owns the router (``[plugins.example] team``),
optionally refuses requests for blocked model names, and counts requests per profile.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from coderouter import Plugin, hookimpl
from coderouter.types import Attempt, Draft, Reject, Result

__all__ = ["ExamplePlugin"]


@attrs.frozen
class ExampleConfig:
    team: str = "platform"
    header: str = "x-coderouter-team"
    blocked_models: list[str] = attrs.Factory(list)


class ExamplePlugin(Plugin):
    Config = ExampleConfig

    def __init__(
        self,
        config: ExampleConfig | None = None,
        profile_configs: dict[str, ExampleConfig] | None = None,
    ) -> None:
        super().__init__(config or ExampleConfig(), profile_configs)
        self.requests_by_profile: Counter[str] = Counter()

    @hookimpl
    def prepare_request(self, draft: Draft) -> Reject | None:
        config: ExampleConfig = self.config_for(draft.request.profile)
        if draft.request.model in config.blocked_models:
            return Reject(f"model {draft.request.model!r} is blocked by team {config.team}")
        return None

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        config: ExampleConfig = self.config_for(attempt.profile)
        self.requests_by_profile[attempt.profile] += 1
        attempt.response_headers[config.header] = config.team
        attempt.log_fields["team"] = config.team

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        return {"requests_by_profile": dict(self.requests_by_profile)}
