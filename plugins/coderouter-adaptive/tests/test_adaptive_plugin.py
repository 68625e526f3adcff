"""The plugin through a fresh plugin manager with a fake clock: learning from outcomes,
judging against chain peers, debouncing, ageing out, per-profile settings and state."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest
from coderouter_adaptive import AdaptiveConfig, AdaptivePlugin

from coderouter.config import ProviderConfig
from coderouter.plugins import plugin_states
from coderouter.testing import ConfigBuilder, FakeClock, config_error, start_plugin
from coderouter.testing.harness import attempt_at, bare_request, filtered_chain
from coderouter.types import Attempt, Chain, ChainMove, Result, UpstreamError, Usage

PROVIDERS = {n: ProviderConfig(name=n, base_url=f"http://127.0.0.1:9/{n}") for n in "abc"}


class Harness:
    def __init__(
        self,
        pm: pluggy.PluginManager,
        config: AdaptiveConfig | None = None,
        profiles: dict[str, AdaptiveConfig] | None = None,
    ) -> None:
        self.pm = pm
        self.clock = FakeClock(100.0)
        self.plugin = AdaptivePlugin(config or AdaptiveConfig(), profiles, clock=self.clock)
        app_config = (
            ConfigBuilder()
            .provider("a", "http://127.0.0.1:9/v1")
            .provider("b", "http://127.0.0.1:9/v1")
            .provider("c", "http://127.0.0.1:9/v1")
            .profile("default", ["a", "b", "c"])
            .build()
        )
        self.events = start_plugin(pm, self.plugin, "adaptive", clock=self.clock, config=app_config)

    def attempt(self, name: str, stream: bool) -> Attempt:
        return attempt_at(PROVIDERS[name], bare_request(stream=stream))

    def ok(self, name: str, seconds: float, times: int = 5, stream: bool = True) -> None:
        for _ in range(times):
            # Streams report ttft; whole answers report total latency (ttft is None there).
            result = Result(
                200,
                Usage(),
                "end_turn",
                seconds * 10 if stream else seconds,
                seconds if stream else None,
            )
            self.pm.hook.after_attempt(attempt=self.attempt(name, stream), result=result)

    def fail(self, name: str, times: int = 1, committed: bool = False) -> None:
        for _ in range(times):
            error = UpstreamError("status", "boom", status=500, committed=committed)
            self.pm.hook.on_failure(attempt=self.attempt(name, True), error=error)

    def chain(self, stream: bool = True, names: str = "abc", profile: str = "default") -> Chain:
        request = bare_request(profile=profile, stream=stream)
        return filtered_chain(self.pm, [PROVIDERS[n] for n in names], request)


def test_a_provider_much_slower_than_its_peers_moves_back_one_place(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager)
    h.ok("a", 1.0)
    h.ok("b", 0.2)
    h.ok("c", 0.3)
    chain = h.chain()
    assert chain.names() == ["b", "a", "c"]
    assert chain.moves == [
        ChainMove("a", "median time to first token 1.00s over 1.5x its peers' 0.25s", "adaptive")
    ]
    [event] = h.events
    assert (event["plugin"], event["provider"], event["demoted"]) == ("adaptive", "a", True)


@pytest.mark.parametrize(
    ("slow", "samples"), [(1.0, 4), (0.29, 5)], ids=["too-few-samples", "within-factor"]
)
def test_no_move_without_enough_evidence(
    plugin_manager: pluggy.PluginManager, slow: float, samples: int
) -> None:
    h = Harness(plugin_manager)
    h.ok("a", slow, times=samples)
    h.ok("b", 0.2)
    chain = h.chain()
    assert chain.names() == ["a", "b", "c"] and chain.moves == []


def test_no_peers_no_latency_judgement(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager)
    h.ok("a", 30.0)
    assert h.chain().names() == ["a", "b", "c"]


def test_streams_and_whole_responses_are_compared_apart(
    plugin_manager: pluggy.PluginManager,
) -> None:
    h = Harness(plugin_manager)
    h.ok("a", 1.0, stream=True)
    h.ok("b", 0.2, stream=True)
    h.ok("a", 2.0, stream=False)
    h.ok("b", 2.5, stream=False)
    assert h.chain(stream=False).names() == ["a", "b", "c"]
    assert h.chain(stream=True).names() == ["b", "a", "c"]
    # A demotion for streams leaves whole responses alone, debounce or not.
    assert h.chain(stream=False).names() == ["a", "b", "c"]
    assert [(e["measure"], e["demoted"]) for e in h.events] == [("ttft", True)]


def test_error_rate_over_the_limit_moves_back(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager)
    h.ok("a", 0.2, times=9)
    h.fail("a")
    assert h.chain().names() == ["a", "b", "c"]  # exactly 10% is not over 10%
    h.fail("a", committed=True)  # a stream cut after commit counts too
    chain = h.chain()
    assert chain.names() == ["b", "a", "c"]
    assert chain.moves[0].reason == "error rate 18% over 10% (2 of 11 in 60s)"


def test_changes_are_debounced(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, AdaptiveConfig(window_s=10, min_move_interval_s=30))
    h.ok("a", 1.0)
    h.ok("b", 0.2)
    assert h.chain().names() == ["b", "a", "c"]
    h.clock.now += 11  # the evidence ages out, but the demotion holds for 30s
    assert h.chain().names() == ["b", "a", "c"]
    h.clock.now += 18.9
    assert h.chain().names() == ["b", "a", "c"]
    h.clock.now += 0.1
    assert h.chain().names() == ["a", "b", "c"]
    h.ok("a", 1.0)
    h.ok("b", 0.2)
    h.clock.now += 1  # slow again at once: the promotion also holds for 30s
    assert h.chain().names() == ["a", "b", "c"]
    h.clock.now += 29
    h.ok("a", 1.0)
    h.ok("b", 0.2)
    assert h.chain().names() == ["b", "a", "c"]
    assert [e["demoted"] for e in h.events] == [True, False, True]
    assert h.events[1]["reason"] == "back in its place"


def test_two_demoted_neighbours_both_move_back(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager)
    h.fail("a", 5)
    h.fail("b", 5)
    chain = h.chain()
    assert chain.names() == ["c", "a", "b"]
    assert [m.provider for m in chain.moves] == ["b", "a"]


def test_profile_override_and_standing_per_profile(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager, AdaptiveConfig(), {"patient": AdaptiveConfig(latency_factor=10.0)})
    h.ok("a", 1.0)
    h.ok("b", 0.2)
    assert h.chain(profile="patient").names() == ["a", "b", "c"]
    assert h.chain(profile="default").names() == ["b", "a", "c"]
    assert h.chain(profile="patient").names() == ["a", "b", "c"]


def test_state_shows_stats_demotions_and_ranking(plugin_manager: pluggy.PluginManager) -> None:
    h = Harness(plugin_manager)
    h.ok("a", 1.0)
    h.ok("b", 0.2, times=10)
    h.fail("b")
    h.chain()
    h.clock.now += 4
    state = plugin_states(plugin_manager)["adaptive"]
    assert state["scope"] == "per worker process, in memory"
    assert state["providers"]["a"] == {
        "median_ttft_s": 1.0,
        "ttft_samples": 5,
        "median_latency_s": None,
        "latency_samples": 0,
        "outcomes": 5,
        "error_rate": 0.0,
    }
    assert state["providers"]["b"]["error_rate"] == round(1 / 11, 3)
    streams = state["profiles"]["default"]["streams"]
    assert streams["ranking"] == ["b", "a", "c"]
    assert streams["demoted"]["a"]["since_s"] == 4.0
    assert streams["demoted"]["a"]["reason"].startswith("median time to first token 1.00s")
    assert state["profiles"]["default"]["whole_responses"] == {
        "demoted": {},
        "ranking": ["a", "b", "c"],
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"latency_factor": 0.5}, "latency_factor must be at least 1"),
        ({"max_error_rate": 1.5}, "max_error_rate must be between 0 and 1"),
        ({"min_samples": 0}, "min_samples must be at least 1"),
        ({"window_s": 0}, "window_s must be positive"),
        ({"min_move_interval_s": -1}, "min_move_interval_s must not be negative"),
        ({"window": 5}, "plugins.adaptive.window: unknown key"),
    ],
)
def test_bad_settings_fail_with_the_key(settings: dict[str, Any], message: str) -> None:
    assert message in str(config_error("adaptive", settings))
