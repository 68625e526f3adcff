"""The health state machine and the circuit breaker, driven by hand-built records and a fake
clock through a fresh plugin manager."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest
from coderouter_backend_health import BackendHealthConfig, BackendHealthPlugin

from coderouter.config import ProviderConfig
from coderouter.plugins import plugin_states
from coderouter.testing import ConfigBuilder, FakeClock, config_error, start_plugin
from coderouter.testing.harness import attempt_at, bare_request, filtered_chain
from coderouter.types import Attempt, Chain, ChainMove, Result, Skip, UpstreamError, Usage

PROVIDERS = {
    n: ProviderConfig(name=n, base_url=f"http://127.0.0.1:9/{n}", timeout_s=60.0)
    for n in ("a", "b", "c")
}
ERROR = UpstreamError("status", "boom", status=500)


class Harness:
    """The plugin registered in a fresh plugin manager, with records to feed it."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        config: BackendHealthConfig,
        profiles: dict[str, BackendHealthConfig] | None = None,
    ) -> None:
        self.pm = pm
        self.clock = FakeClock(1000.0)
        self.plugin = BackendHealthPlugin(config, profiles, clock=self.clock)
        app_config = (
            ConfigBuilder()
            .provider("a", "http://127.0.0.1:9/v1")
            .provider("b", "http://127.0.0.1:9/v1")
            .profile("default", ["a", "b"])
            .build()
        )
        self.events = start_plugin(
            pm, self.plugin, "backend_health", clock=self.clock, config=app_config
        )

    def attempt(self, name: str, profile: str = "default") -> Attempt:
        request = bare_request(profile=profile)
        return attempt_at(PROVIDERS[name], request, profile=profile, clock=self.clock)

    def fail(self, name: str, times: int = 1, profile: str = "default") -> None:
        for _ in range(times):
            self.pm.hook.on_failure(attempt=self.attempt(name, profile), error=ERROR)

    def succeed(self, name: str, attempt: Attempt | None = None) -> None:
        self.pm.hook.after_attempt(
            attempt=attempt or self.attempt(name),
            result=Result(200, Usage(), "end_turn", 0.1, None),
        )

    def chain(self, names: str = "abc", profile: str = "default") -> Chain:
        return filtered_chain(self.pm, [PROVIDERS[n] for n in names], bare_request(profile=profile))

    def before(self, attempt: Attempt) -> Any:
        return self.pm.hook.before_attempt(attempt=attempt)

    def state(self, name: str) -> str:
        return self.plugin.health[name].state(self.plugin.config.threshold)


def test_consecutive_failures_degrade_then_one_success_heals(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(threshold=3))
    h.fail("a", 2)
    assert h.state("a") == "healthy" and h.events == []
    h.fail("a")
    assert h.state("a") == "degraded"
    h.fail("a", 2)
    assert h.state("a") == "degraded"
    h.fail("a")
    assert h.state("a") == "unhealthy"
    h.succeed("a")
    assert h.state("a") == "healthy"
    assert [(e["from"], e["to"]) for e in h.events] == [
        ("healthy", "degraded"),
        ("degraded", "unhealthy"),
        ("unhealthy", "healthy"),
    ]
    assert h.events[1] | {"ts": 0} == h.events[1] | {
        "event": "guard",
        "plugin": "backend_health",
        "provider": "a",
        "consecutive_failures": 6,
        "error": "HTTP 500: boom",
        "ts": 0,
    }


def test_a_success_between_failures_resets_the_count(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(threshold=2))
    for _ in range(3):
        h.fail("a")
        h.succeed("a")
    assert h.state("a") == "healthy" and h.events == []


def test_warn_never_changes_the_chain(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="warn", threshold=1))
    h.fail("a", 5)
    chain = h.chain()
    assert chain.names() == ["a", "b", "c"] and not chain.skipped and not chain.moves
    assert h.before(h.attempt("a")) is None


def test_demote_moves_only_unhealthy_providers_to_the_end(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="demote", threshold=2))
    h.fail("a", 4)
    h.fail("b", 2)
    chain = h.chain()
    assert chain.names() == ["b", "c", "a"]
    assert chain.moves == [
        ChainMove("a", "unhealthy: 4 consecutive failures (last: HTTP 500: boom)", "backend_health")
    ]
    assert h.before(h.attempt("a")) is None


def test_skip_opens_the_circuit_until_half_open_s_after_the_last_failure(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="skip", threshold=1, half_open_s=30))
    h.fail("a", 2)
    chain = h.chain()
    assert chain.names() == ["b", "c"]
    [skip] = chain.skipped
    assert (skip.provider, skip.by) == ("a", "backend_health")
    assert skip.reason.startswith("unhealthy, circuit open: 2 consecutive failures")
    assert skip.reason.endswith("next trial in 30.0s")
    h.clock.advance(29.9)
    assert h.chain().names() == ["b", "c"]
    h.clock.advance(0.1)
    assert h.chain().names() == ["a", "b", "c"]


def test_half_open_lets_exactly_one_trial_through(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="skip", threshold=1, half_open_s=30))
    h.fail("a", 2)
    h.clock.advance(30)
    first = h.chain()
    second = h.chain()
    assert first.names() == second.names() == ["a", "b", "c"]
    trial = h.attempt("a")
    assert h.before(trial) is None
    assert trial.scratch["backend_health"] == {"trial": True}
    # A request whose chain was built before the trial started is stopped at call time ...
    verdict = h.before(h.attempt("a"))
    assert isinstance(verdict, Skip) and "trial request is in flight" in verdict.reason
    # ... and later requests do not keep it in their chain at all.
    third = h.chain()
    assert third.names() == ["b", "c"]
    assert "trial request is in flight" in third.skipped[0].reason
    h.succeed("a", trial)
    assert h.state("a") == "healthy"
    assert h.chain().names() == ["a", "b", "c"]
    assert h.before(h.attempt("a")) is None
    assert [e.get("trial") for e in h.events if "trial" in e] == ["started"]


def test_failed_trial_opens_the_circuit_for_another_half_open_s(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="skip", threshold=1, half_open_s=30))
    h.fail("a", 2)
    h.clock.advance(30)
    trial = h.attempt("a")
    assert h.before(trial) is None
    h.clock.advance(5)
    h.pm.hook.on_failure(attempt=trial, error=ERROR)
    assert h.events[-1]["trial"] == "failed" and h.events[-1]["circuit"] == "open"
    h.clock.advance(29.9)
    assert h.chain().names() == ["b", "c"]
    assert isinstance(h.before(h.attempt("a")), Skip)
    h.clock.advance(0.1)
    assert h.chain().names() == ["a", "b", "c"]
    assert h.before(h.attempt("a")) is None


def test_a_trial_never_reached_leaves_the_slot_free(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="skip", threshold=1, half_open_s=30))
    h.fail("a", 2)
    h.clock.advance(30)
    assert h.chain("ba").names() == ["b", "a"]
    h.succeed("b")  # the earlier provider answered; "a" was never called
    assert h.chain("ab").names() == ["a", "b"]
    assert h.before(h.attempt("a")) is None


def test_an_abandoned_trial_expires_after_the_provider_timeout(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="skip", threshold=1, half_open_s=30))
    h.fail("a", 2)
    h.clock.advance(30)
    assert h.before(h.attempt("a")) is None  # its outcome never arrives
    h.clock.advance(59.9)
    assert h.chain().names() == ["b", "c"]
    h.clock.advance(0.1)
    assert h.chain().names() == ["a", "b", "c"]
    assert h.before(h.attempt("a")) is None


def test_profile_override_decides_the_action(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(
        plugin_manager,
        BackendHealthConfig(action="warn", threshold=1),
        {"guarded": BackendHealthConfig(action="skip", threshold=1)},
    )
    h.fail("a", 2)
    assert h.chain(profile="default").names() == ["a", "b", "c"]
    assert h.chain(profile="guarded").names() == ["b", "c"]
    assert h.before(h.attempt("a", profile="default")) is None
    assert isinstance(h.before(h.attempt("a", profile="guarded")), Skip)


def test_describe_state_lists_configured_and_seen_providers(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager, BackendHealthConfig(action="skip", threshold=1, half_open_s=30))
    h.fail("a", 2)
    h.fail("c")
    h.clock.advance(10)
    state = plugin_states(plugin_manager)["backend_health"]
    assert state["scope"] == "per worker process, in memory"
    assert set(state["providers"]) == {"a", "b", "c"}
    a = state["providers"]["a"]
    assert (a["state"], a["circuit"], a["consecutive_failures"], a["next_trial_in_s"]) == (
        "unhealthy",
        "open",
        2,
        20.0,
    )
    assert a["last_error"] == "HTTP 500: boom" and a["last_failure_s_ago"] == 10.0
    assert state["providers"]["b"]["state"] == "healthy"
    assert state["providers"]["c"]["state"] == "degraded"
    assert state["providers"]["c"]["consecutive_failures"] == 1
    h.clock.advance(20)
    a = plugin_states(plugin_manager)["backend_health"]["providers"]["a"]
    assert (a["circuit"], a["trial_in_flight"]) == ("half_open", False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"action": "block"}, "plugins.backend_health.action: unknown value 'block'"),
        ({"threshold": 0}, "threshold must be at least 1, got 0"),
        ({"half_open_s": 0}, "half_open_s must be positive"),
        ({"half_open": 1}, "plugins.backend_health.half_open: unknown key"),
    ],
)
def test_bad_settings_fail_with_the_key(settings: dict[str, Any], message: str) -> None:
    assert message in str(config_error("backend_health", settings))
