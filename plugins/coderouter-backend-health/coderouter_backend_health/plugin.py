"""The ``backend_health`` plugin: health per provider from the outcomes of real requests."""

from __future__ import annotations

from collections.abc import Callable
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

CLAIM_AHEAD_S = 2.0
"""An open circuit's trial is claimed this long before it may be sent."""
CLAIM_S = 10.0
"""How long after the circuit half-opens the claim's holder has to start the trial; past it the
claim lapses and another worker may take it."""
START_MARGIN_S = 1.0
"""A trial starts only on a claim held this much longer, time enough for the longer lease the
trial then asks for (and the record saying it is in flight) to reach the store."""


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
        """Why an unhealthy provider takes no traffic now, or ``""`` when this worker may send
        its trial.

        The trial is claimed (:attr:`claims`) so one worker of the fleet sends it. The claim
        is asked for in the last :data:`CLAIM_AHEAD_S` of the open circuit and again while it
        is half-open, and the answer is read without waiting: in memory it is granted at
        once; through Redis the ``SET NX PX`` runs in the background and this worker learns a
        round trip later whether it holds the claim. A hook thus never waits on Redis; the
        cost is that a worker whose first request after the cooldown asks for the claim
        skips the provider for that request. Workers that do not hold the claim keep
        skipping until the trial's outcome, written to the shared record, closes or reopens
        the circuit; a holder that sends no trial loses the claim after :data:`CLAIM_S`.
        """
        circuit = health.circuit(now, config.threshold, config.half_open_s)
        if circuit == "open":
            reopens_in = health.reopens_in(now, config.half_open_s)
            if reopens_in <= CLAIM_AHEAD_S:
                self.claims.want(name, reopens_in + CLAIM_S)
            return (
                f"unhealthy, circuit open: {health.failures} consecutive failures "
                f"(last: {health.last_error}); next trial in {reopens_in:.1f}s"
            )
        if circuit == "half_open" and health.trial_in_flight(now):
            return "unhealthy, circuit half-open: a trial request is in flight"
        self.claims.want(name, CLAIM_S)
        if not self.claims.held(name, START_MARGIN_S):
            return "unhealthy, circuit half-open: the trial request is another worker's"
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
        lease_s = max(attempt.provider.timeout_s, config.half_open_s)
        health.start_trial(now, lease_s)
        self.records.save(attempt.provider.name, health)
        self.claims.extend(attempt.provider.name, lease_s)
        attempt.scratch[NAME] = {"trial": True}
        attempt.log_fields["health_trial"] = True
        self.guard_event(
            attempt.provider.name,
            attempt.profile,
            request=attempt.request,
            circuit="half_open",
            trial="started",
        )
        return None

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
        self._trial_over(attempt)
        if health.state(config.threshold) != before:
            self._changed(attempt, config, before, health)
        if attempt.scratch.get(NAME, {}).get("trial"):
            self.guard_event(
                attempt.provider.name,
                attempt.profile,
                request=attempt.request,
                circuit="open",
                trial="failed",
                error=health.last_error,
            )

    def _trial_over(self, attempt: Attempt) -> None:
        # After the outcome is saved: the worker that takes the claim next reads it.
        if attempt.scratch.get(NAME, {}).get("trial"):
            self.claims.release(attempt.provider.name)

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
