"""The ``backend_health`` plugin: health per provider from the outcomes of real requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from coderouter import hookimpl
from coderouter.guards import GuardPlugin, ProviderRecords
from coderouter.state import Claims
from coderouter.state.claims import MemoryClaims
from coderouter.types import Attempt, Chain, RequestView, Result, Skip, UpstreamError
from coderouter_backend_health.config import BackendHealthConfig
from coderouter_backend_health.health import HEALTHY, UNHEALTHY, ProviderHealth

__all__ = ["BackendHealthPlugin"]

if TYPE_CHECKING:
    from coderouter.context import AppContext

NAME = "backend_health"

TRIAL_ELSEWHERE = "unhealthy, circuit half-open: another worker holds the trial"


def _lease_s(attempt: Attempt, config: BackendHealthConfig) -> float:
    """How long a trial blocks others when its outcome never arrives."""
    return max(attempt.provider.timeout_s, config.half_open_s)


def _short(error: UpstreamError) -> str:
    text = error.summary()
    if error.message and error.message != text:
        text = f"{text}: {error.message}"
    return " ".join(text.split())[:120]


class BackendHealthPlugin(GuardPlugin[ProviderHealth]):
    """Counts consecutive failures per provider and warns, demotes unhealthy providers to the
    end of the chain, or skips them (a circuit breaker with one trial request after
    ``half_open_s``)."""

    name = NAME
    Config = BackendHealthConfig
    Record = ProviderHealth

    def __init__(
        self,
        config: Any = None,
        profile_configs: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        records: ProviderRecords[ProviderHealth] | None = None,
    ) -> None:
        super().__init__(config, profile_configs, clock=clock, records=records)
        self._local_claims = MemoryClaims(self.clock)
        self.claims: Claims = self._local_claims

    def attach(self, app: AppContext) -> None:
        """Also take the trial claims from the app's state store (one trial per provider
        across every host with Redis)."""
        super().attach(app)
        if not self._given:
            self.claims = app.store.claims(NAME)

    def detach(self) -> None:
        super().detach()
        self.claims = self._local_claims

    @property
    def health(self) -> ProviderRecords[ProviderHealth]:
        """The records, under this plugin's own word for them."""
        return self.records

    def idle_hooks(self, profile: str) -> tuple[str, ...]:
        """Without ``skip`` there is no trial to claim: a profile's attempts then pay for no
        admission (nor its release)."""
        config: BackendHealthConfig = self.config_for(profile)
        if config.action == "skip":
            return ()
        return ("before_attempt", "admit_attempt", "release_attempt")

    # --- the chain -----------------------------------------------------------------------------

    @hookimpl
    def filter_chain(self, request: RequestView, chain: Chain) -> None:
        config: BackendHealthConfig = self.config_for(chain.profile)
        if config.action == "warn":
            return
        now = self.clock()
        for provider in list(chain.providers):
            health = self.records.get(provider.name)
            if health is None or health.state(config.threshold) != UNHEALTHY:
                continue
            if config.action == "demote":
                chain.demote(
                    provider.name,
                    f"unhealthy: {health.failures} consecutive failures "
                    f"(last: {health.last_error})",
                    by=NAME,
                )
                continue
            reason = self._closed_reason(provider.name, health, now, config)
            if reason:
                chain.skip(provider.name, reason, by=NAME)

    def _closed_reason(
        self, name: str, health: ProviderHealth, now: float, config: BackendHealthConfig
    ) -> str:
        """Why an unhealthy provider takes no traffic now, or ``""`` when it may take a trial."""
        circuit = health.circuit(now, config.threshold, config.half_open_s)
        if circuit == "open":
            return (
                f"unhealthy, circuit open: {health.failures} consecutive failures "
                f"(last: {health.last_error}); next trial in "
                f"{health.reopens_in(now, config.half_open_s):.1f}s"
            )
        if circuit == "half_open" and health.trial_in_flight(now):
            return "unhealthy, circuit half-open: a trial request is in flight"
        if self.claims.theirs(name):
            return TRIAL_ELSEWHERE
        return ""

    @hookimpl
    def before_attempt(self, attempt: Attempt) -> Skip | None:
        # The trial is claimed here, not in filter_chain: a request whose chain holds the
        # provider may be answered by an earlier one and never try it.
        config: BackendHealthConfig = self.config_for(attempt.profile)
        health = self.records.get(attempt.provider.name)
        if config.action != "skip" or health is None:
            return None
        now = self.clock()
        if health.circuit(now, config.threshold, config.half_open_s) == "closed":
            return None
        reason = self._closed_reason(attempt.provider.name, health, now, config)
        if reason:
            return Skip(reason)
        if self.claims.waits:
            attempt.scratch[NAME] = {"claim": True}  # taken in admit_attempt
            return None
        lease_s = _lease_s(attempt, config)
        self.claims.take_now(attempt.provider.name, lease_s)
        self._start_trial(attempt, health, now, lease_s)
        return None

    @hookimpl
    def admit_attempt(self, attempt: Attempt) -> Awaitable[Skip | None] | None:
        """Claim the trial across the fleet, for an attempt :meth:`before_attempt` found to be
        a half-open circuit's candidate trial while the claims are shared.

        Only that attempt waits, for one round trip to Redis (``SET NX PX``, bounded by the
        store's socket timeout): every other attempt returns here without a coroutine, so
        the common path never waits on Redis. Waiting at this one moment, rather than
        claiming ahead in the background, means the worker that takes the claim is the one
        with a request to send as the trial, and no request is skipped while a claim is in
        the air. The claim's TTL is the trial's lease, so a host that dies mid-trial frees
        it; the others skip the provider until the trial's outcome reaches the record.
        """
        if not attempt.scratch.get(NAME, {}).get("claim"):
            return None
        return self._claim_trial(attempt)

    async def _claim_trial(self, attempt: Attempt) -> Skip | None:
        config: BackendHealthConfig = self.config_for(attempt.profile)
        name = attempt.provider.name
        lease_s = _lease_s(attempt, config)
        won = await self.claims.take(name, lease_s)
        # The record may have moved on while the claim was asked for.
        health = self.records.record(name)
        now = self.clock()
        reason = self._closed_reason(name, health, now, config) if won else TRIAL_ELSEWHERE
        if not won or reason:
            if won:
                self.claims.release(name)
            return Skip(reason)
        if health.circuit(now, config.threshold, config.half_open_s) == "closed":
            self.claims.release(name)  # the trial another worker sent closed the circuit
            return None
        self._start_trial(attempt, health, now, lease_s)
        return None

    def _start_trial(
        self, attempt: Attempt, health: ProviderHealth, now: float, lease_s: float
    ) -> None:
        health.start_trial(now, lease_s)
        self.records.save(attempt.provider.name, health)
        attempt.scratch[NAME] = {"trial": True}
        attempt.log_fields["health_trial"] = True
        self.guard_event(
            attempt.provider.name,
            attempt.profile,
            request=attempt.request,
            circuit="half_open",
            trial="started",
        )

    @hookimpl
    def release_attempt(self, attempt: Attempt) -> None:
        """A trial that was never sent or never finished frees its claim and its lease."""
        if not attempt.scratch.get(NAME, {}).get("trial"):
            return
        health = self.records.get(attempt.provider.name)
        if health is not None and health.trial_since is not None:
            health.trial_since = None
            self.records.save(attempt.provider.name, health)
        self._trial_over(attempt)

    # --- outcomes ------------------------------------------------------------------------------

    @hookimpl
    def after_attempt(self, attempt: Attempt, result: Result) -> None:
        config: BackendHealthConfig = self.config_for(attempt.profile)
        health = self.records.record(attempt.provider.name)
        before = health.state(config.threshold)
        health.succeeded(self.clock())
        self.records.save(attempt.provider.name, health)
        self._trial_over(attempt)
        if before != HEALTHY:
            self._changed(attempt, config, before, health)

    @hookimpl
    def on_failure(self, attempt: Attempt, error: UpstreamError) -> None:
        config: BackendHealthConfig = self.config_for(attempt.profile)
        health = self.records.record(attempt.provider.name)
        before = health.state(config.threshold)
        health.failed(self.clock(), _short(error))
        self.records.save(attempt.provider.name, health)
        was_trial = self._trial_over(attempt)
        if health.state(config.threshold) != before:
            self._changed(attempt, config, before, health)
        if was_trial:
            self.guard_event(
                attempt.provider.name,
                attempt.profile,
                request=attempt.request,
                circuit="open",
                trial="failed",
                error=health.last_error,
            )

    def _trial_over(self, attempt: Attempt) -> bool:
        """Free the claim of a trial whose outcome is saved (the worker that takes the claim
        next reads it); whether the attempt was a trial."""
        scratch = attempt.scratch.get(NAME, {})
        if not scratch.get("trial"):
            return False
        scratch["trial"] = False
        self.claims.release(attempt.provider.name)
        return True

    def _changed(
        self, attempt: Attempt, config: BackendHealthConfig, before: str, health: ProviderHealth
    ) -> None:
        fields: dict[str, Any] = {
            "from": before,
            "to": health.state(config.threshold),
            "consecutive_failures": health.failures,
            "action": config.action,
        }
        if health.failures:
            fields["error"] = health.last_error
        self.guard_event(attempt.provider.name, attempt.profile, request=attempt.request, **fields)

    # --- state ---------------------------------------------------------------------------------

    @hookimpl
    def describe_state(self) -> dict[str, Any]:
        config: BackendHealthConfig = self.config
        now = self.clock()
        names = list(self.app.config.provider_names) if self.app is not None else []
        names += [n for n in self.records if n not in names]
        providers = {}
        for name in names:
            health = self.records.get(name) or ProviderHealth()
            circuit = health.circuit(now, config.threshold, config.half_open_s)
            entry: dict[str, Any] = {
                "state": health.state(config.threshold),
                "consecutive_failures": health.failures,
                "failures": health.total_failures,
                "successes": health.total_successes,
                "circuit": circuit if config.action == "skip" else None,
                "last_error": health.last_error or None,
                "last_failure_s_ago": _ago(now, health.last_failure_at),
                "last_success_s_ago": _ago(now, health.last_success_at),
            }
            if config.action == "skip" and circuit == "open":
                entry["next_trial_in_s"] = round(health.reopens_in(now, config.half_open_s), 1)
            if config.action == "skip" and circuit == "half_open":
                entry["trial_in_flight"] = health.trial_in_flight(now)
            providers[name] = entry
        return {
            "scope": self.records.scope,
            "trials": {"scope": self.claims.scope, "claims": self.claims.describe()},
            "action": config.action,
            "threshold": config.threshold,
            "providers": providers,
        }


def _ago(now: float, then: float | None) -> float | None:
    return None if then is None else round(now - then, 1)
