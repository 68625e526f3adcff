"""The ``adaptive`` plugin: live latency and error rates reorder the chain, gently."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from coderouter import AttachedPlugin, hookimpl
from coderouter.state import Feed
from coderouter.state.feed import LocalFeed
from coderouter.types import Attempt, Chain, RequestView, Result, UpstreamError
from coderouter_adaptive.config import AdaptiveConfig
from coderouter_adaptive.window import Measure, Sample, Stats, Tally, Window

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["AdaptivePlugin", "Standing"]

NAME = "adaptive"
MEASURES: tuple[Measure, ...] = ("ttft", "latency")
MEASURE_LABEL = {"ttft": "time to first token", "latency": "latency"}
MEASURE_KEY = {"ttft": "streams", "latency": "whole_responses"}


@attrs.define
class Standing:
    """Whether a provider is moved back in one profile's chains for one measure (streams or
    whole responses), since when and why."""

    demoted: bool = False
    changed_at: float | None = None
    reason: str = ""


def _measure(stream: bool) -> Measure:
    return "ttft" if stream else "latency"


def move_back_all(names: list[str], demoted: set[str]) -> list[str]:
    """``names`` with each demoted provider one place further back, the last one first so
    two neighbours both demoted keep their relative order instead of swapping back."""
    order = list(names)
    for name in reversed(names):
        if name not in demoted:
            continue
        i = order.index(name)
        if i < len(order) - 1:
            order.insert(i + 1, order.pop(i))
    return order


class AdaptivePlugin(AttachedPlugin):
    """Keeps a rolling window of latency and outcomes per provider; moves a provider back one
    place while it is much slower than its chain peers or fails too often."""

    Config = AdaptiveConfig

    def __init__(
        self,
        config: AdaptiveConfig | None = None,
        profile_configs: dict[str, AdaptiveConfig] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(config, profile_configs, clock=clock)
        self.windows: dict[str, Window] = {}
        self.standings: dict[tuple[str, Measure, str], Standing] = {}
        configs = [self.config, *self.profile_configs.values()]
        self._keep_s = max(c.window_s for c in configs)
        self._spans = sorted({c.window_s for c in configs})
        self.feed: Feed = LocalFeed()

    def attach(self, app: AppContext) -> None:
        """Also take the app store's feed: with Redis every host's samples reach every
        window, so each host judges providers by the whole fleet's traffic."""
        super().attach(app)
        self.feed = app.store.feed(NAME, self._received)

    def detach(self) -> None:
        super().detach()
        self.feed = LocalFeed()

    # --- learning ------------------------------------------------------------------------------

    def _add(self, provider: str, sample: Sample) -> None:
        window = self.windows.get(provider)
        if window is None:
            window = self.windows[provider] = Window(spans=self._spans)
        samples = window.samples
        if samples and sample.at < samples[-1].at:
            # A sample from another host arrives a delivery later than it was taken: it joins
            # the window's end, which keeps the window in time order (each tally expires from
            # its oldest end), and counts as taken that much later.
            sample.at = samples[-1].at
        window.add(sample)
        window.prune(sample.at, self._keep_s)

    def _learn(self, provider: str, sample: Sample) -> None:
        self._add(provider, sample)
        item: dict[str, Any] = {"p": provider, "ok": sample.ok}
        if sample.measure is not None and sample.seconds is not None:
            item["m"], item["s"] = sample.measure, round(sample.seconds, 4)
        self.feed.publish(item, sample.at)

    def _received(self, item: dict[str, Any], at: float) -> None:
        """A sample another host took (only of providers this host routes to)."""
        provider, ok = item.get("p"), item.get("ok")
        if not isinstance(provider, str) or not isinstance(ok, bool):
            return
        if self.app is not None and provider not in self.app.config.provider_names:
            return
        measure, seconds = item.get("m"), item.get("s")
        if measure not in MEASURES or not isinstance(seconds, (int, float)):
            measure, seconds = None, None
        self._add(provider, Sample(min(at, self.clock()), ok, measure, seconds))

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        seconds = result.ttft_s if attempt.stream else result.latency_s
        if seconds is None:
            seconds = result.latency_s
        self._learn(
            attempt.provider.name, Sample(self.clock(), True, _measure(attempt.stream), seconds)
        )

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        self._learn(attempt.provider.name, Sample(self.clock(), False))

    # --- judging -------------------------------------------------------------------------------

    def _stats(self, provider: str, now: float, config: AdaptiveConfig, measure: Measure) -> Stats:
        window = self.windows.get(provider)
        if window is None:
            return Stats()
        window.prune(now, self._keep_s)
        return window.stats(now, config.window_s, measure)

    @staticmethod
    def _verdict(
        name: str,
        tally: Tally | None,
        medians: dict[str, float],
        config: AdaptiveConfig,
        measure: Measure,
    ) -> str:
        """Why ``name`` should be moved back, or ``""``."""
        if (
            tally is not None
            and tally.outcomes >= config.min_samples
            and tally.error_rate > config.max_error_rate
        ):
            return (
                f"error rate {tally.error_rate:.0%} over {config.max_error_rate:.0%} "
                f"({tally.errors} of {tally.outcomes} in {config.window_s:g}s)"
            )
        own = medians.get(name)
        if own is None or len(medians) < 2:
            return ""
        peers = [m for peer, m in medians.items() if peer != name]
        peer = statistics.median(peers)
        if own > config.latency_factor * peer:
            return (
                f"median {MEASURE_LABEL[measure]} {own:.2f}s over "
                f"{config.latency_factor:g}x its peers' {peer:.2f}s"
            )
        return ""

    def _settle(
        self,
        key: tuple[str, Measure, str],
        verdict: str,
        now: float,
        config: AdaptiveConfig,
        request: RequestView,
    ) -> Standing:
        standing = self.standings.setdefault(key, Standing())
        wanted = bool(verdict)
        if wanted == standing.demoted:
            if wanted:
                standing.reason = verdict
            return standing
        if (
            standing.changed_at is not None
            and now - standing.changed_at < config.min_move_interval_s
        ):
            return standing
        standing.demoted, standing.changed_at = wanted, now
        standing.reason = verdict
        profile, measure, name = key
        self.emit(
            {
                "event": "guard",
                "plugin": NAME,
                "provider": name,
                "profile": profile,
                "measure": measure,
                "demoted": wanted,
                "reason": verdict or "back in its place",
            },
            request=request,
        )
        return standing

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        config: AdaptiveConfig = self.config_for(chain.profile)
        now = self.clock()
        measure = _measure(request.stream)
        names = chain.names()
        windows = self.windows
        tallies: dict[str, Tally | None] = {}
        medians: dict[str, float] = {}
        for name in names:
            window = windows.get(name)
            if window is None:
                tallies[name] = None
                continue
            tally = tallies[name] = window.tally(config.window_s, now)
            if tally.count(measure) >= config.min_samples:
                median = tally.median(measure)
                assert median is not None
                medians[name] = median
        demoted: list[tuple[str, str]] = []
        standings = self.standings
        for name in names:
            verdict = self._verdict(name, tallies[name], medians, config, measure)
            key = (chain.profile, measure, name)
            if not verdict:
                standing = standings.get(key)
                if standing is None or not standing.demoted:
                    continue  # in its place and staying there: nothing to settle
            standing = self._settle(key, verdict, now, config, request)
            if standing.demoted:
                demoted.append((name, standing.reason))
        for name, reason in reversed(demoted):
            chain.move_back(name, reason, by=NAME)

    # --- state ---------------------------------------------------------------------------------

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        config: AdaptiveConfig = self.config
        now = self.clock()
        providers: dict[str, Any] = {}
        for name in self.windows:
            entry: dict[str, Any] = {}
            for measure in MEASURES:
                stats = self._stats(name, now, config, measure)
                median = stats.median()
                entry[f"median_{measure}_s"] = None if median is None else round(median, 3)
                entry[f"{measure}_samples"] = len(stats.latencies)
            entry["outcomes"] = stats.outcomes
            entry["error_rate"] = round(stats.error_rate, 3)
            providers[name] = entry
        return {
            "scope": self.feed.scope,
            "window_s": config.window_s,
            "providers": providers,
            "profiles": self._profiles_state(now),
        }

    def _profiles_state(self, now: float) -> dict[str, Any]:
        profiles: dict[str, Any] = {}
        known = dict(self.app.config.profiles) if self.app is not None else {}
        seen = sorted({p for p, _, _ in self.standings} - set(known))
        for profile in [*known, *seen]:
            entry: dict[str, Any] = {}
            for measure in MEASURES:
                demoted = {
                    name: {
                        "reason": s.reason,
                        "since_s": None if s.changed_at is None else round(now - s.changed_at, 1),
                    }
                    for (p, m, name), s in self.standings.items()
                    if p == profile and m == measure and s.demoted
                }
                part: dict[str, Any] = {"demoted": demoted}
                if profile in known:
                    part["ranking"] = move_back_all(list(known[profile].providers), set(demoted))
                entry[MEASURE_KEY[measure]] = part
            profiles[profile] = entry
        return profiles
