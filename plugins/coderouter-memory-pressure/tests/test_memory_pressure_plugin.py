"""The plugin through a fresh plugin manager with a fake clock: what it records, when it skips,
when the cooldown ends, per-profile settings, state and config errors."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest
from coderouter_memory_pressure import MemoryPressureConfig, MemoryPressurePlugin

from coderouter.config import ProviderConfig
from coderouter.plugins import plugin_states
from coderouter.testing import FakeClock, config_error, start_plugin
from coderouter.testing.harness import attempt_at, bare_request, filtered_chain
from coderouter.types import Attempt, Chain, Skip, UpstreamError

PROVIDERS = {n: ProviderConfig(name=n, base_url=f"http://127.0.0.1:9/{n}") for n in "ab"}
OOM = UpstreamError("status", "CUDA out of memory. Tried to allocate 2.00 GiB", status=500)


class Harness:
    def __init__(
        self,
        pm: pluggy.PluginManager,
        config: MemoryPressureConfig,
        profiles: dict[str, MemoryPressureConfig] | None = None,
    ) -> None:
        self.pm = pm
        self.clock = FakeClock(500.0)
        self.plugin = MemoryPressurePlugin(config, profiles, clock=self.clock)
        self.events = start_plugin(pm, self.plugin, "memory_pressure", clock=self.clock)

    def attempt(self, name: str, profile: str = "default") -> Attempt:
        return attempt_at(PROVIDERS[name], bare_request(profile=profile), profile=profile)

    def fail(self, name: str, error: UpstreamError = OOM, profile: str = "default") -> None:
        self.pm.hook.on_failure(attempt=self.attempt(name, profile), error=error)

    def chain(self, profile: str = "default") -> Chain:
        return filtered_chain(self.pm, PROVIDERS.values(), bare_request(profile=profile))


def test_warn_logs_and_leaves_the_chain(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig())
    h.fail("a")
    assert h.chain().names() == ["a", "b"]
    assert plugin_manager.hook.before_attempt(attempt=h.attempt("a")) is None
    [event] = h.events
    assert event | {"ts": 0} == event | {
        "event": "guard",
        "plugin": "memory_pressure",
        "provider": "a",
        "action": "warn",
        "phrase": "CUDA out of memory",
        "profile": "default",
        "ts": 0,
    }
    assert "cooldown_s" not in event


def test_off_ignores_even_out_of_memory(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig(action="off"))
    h.fail("a")
    assert h.events == [] and h.plugin.pressure == {}


def test_skip_rests_the_provider_for_the_cooldown(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig(action="skip"))
    h.fail("a")
    chain = h.chain()
    assert chain.names() == ["b"]
    [skip] = chain.skipped
    assert (skip.provider, skip.by) == ("a", "memory_pressure")
    assert skip.reason == ('out of memory ("CUDA out of memory"); resting for another 120s of 120s')
    h.clock.now += 119.9
    assert h.chain().names() == ["b"]
    h.clock.now += 0.1
    assert h.chain().names() == ["a", "b"]
    assert h.events[0]["cooldown_s"] == 120.0


def test_a_new_failure_restarts_the_cooldown(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig(action="skip", cooldown_s=10))
    h.fail("a")
    h.clock.now += 10
    assert h.chain().names() == ["a", "b"]
    h.fail(
        "a",
        UpstreamError(
            "status",
            "upstream error",
            status=500,
            body='{"error":"model requires more system memory (9 GiB)"}',
        ),
    )
    h.clock.now += 9.9
    chain = h.chain()
    assert chain.names() == ["b"]
    assert '"model requires more system memory"' in chain.skipped[0].reason
    assert h.plugin.pressure["a"].count == 2


def test_requests_already_past_the_chain_are_stopped_at_call_time(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig(action="skip"))
    in_flight = h.chain()
    h.fail("a")
    assert in_flight.names() == ["a", "b"]
    verdict = plugin_manager.hook.before_attempt(attempt=h.attempt("a"))
    assert isinstance(verdict, Skip) and verdict.reason.startswith("out of memory")
    assert plugin_manager.hook.before_attempt(attempt=h.attempt("b")) is None


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError("status", "no room left in the context", status=500),
        UpstreamError("status", "upstream error", status=503, body="model is loading"),
        UpstreamError("timeout", "timed out"),
    ],
)
def test_other_failures_are_not_memory_pressure(
    plugin_manager: pluggy.PluginManager, error: UpstreamError
) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig(action="skip"))
    h.fail("a", error)
    assert h.chain().names() == ["a", "b"]
    assert h.events == []


def test_profile_override_decides_the_action(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(
        plugin_manager,
        MemoryPressureConfig(action="warn"),
        {"local": MemoryPressureConfig(action="skip", cooldown_s=30)},
    )
    h.fail("a")
    assert h.chain("default").names() == ["a", "b"]
    assert h.chain("local").names() == ["b"]
    h.clock.now += 30
    assert h.chain("local").names() == ["a", "b"]


def test_state_shows_counts_and_cooldowns(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, MemoryPressureConfig(action="skip"))
    h.fail("a")
    h.clock.now += 20
    state = plugin_states(plugin_manager)["memory_pressure"]
    assert state["scope"] == "per worker process, in memory"
    assert state["providers"] == {
        "a": {
            "ooms": 1,
            "last_phrase": "CUDA out of memory",
            "last_error": "status 500: CUDA out of memory. Tried to allocate 2.00 GiB",
            "last_oom_s_ago": 20.0,
            "cooldown_remaining_s": 100.0,
        }
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"action": "drop"}, "plugins.memory_pressure.action: unknown value 'drop'"),
        ({"cooldown_s": 0}, "cooldown_s must be positive"),
        ({"cooldown": 5}, "plugins.memory_pressure.cooldown: unknown key"),
    ],
)
def test_bad_settings_fail_with_the_key(settings: dict[str, Any], message: str) -> None:
    assert message in str(config_error("memory_pressure", settings))
