"""The per-provider health record and its state machine.

HEALTHY -> DEGRADED after ``threshold`` consecutive failures -> UNHEALTHY after ``2 *
threshold``; any success returns to HEALTHY. For the circuit breaker an unhealthy provider is
*open* for ``half_open_s`` after its latest failure, then *half-open*: one trial request may go
through, and its outcome closes the circuit or opens it again.
"""

from __future__ import annotations

from typing import Literal

import attrs

from coderouter.guards import clock_field

__all__ = ["DEGRADED", "HEALTHY", "UNHEALTHY", "Circuit", "ProviderHealth", "state_of"]

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"

Circuit = Literal["closed", "open", "half_open"]


def state_of(failures: int, threshold: int) -> str:
    if failures >= 2 * threshold:
        return UNHEALTHY
    if failures >= threshold:
        return DEGRADED
    return HEALTHY


@attrs.define
class ProviderHealth:
    """What one worker has seen of one provider."""

    failures: int = 0
    """Consecutive failures since the last success."""
    total_failures: int = 0
    total_successes: int = 0
    last_failure_at: float | None = clock_field()
    last_success_at: float | None = clock_field()
    last_error: str = ""
    trial_since: float | None = clock_field()
    trial_lease_s: float = 0.0

    def state(self, threshold: int) -> str:
        return state_of(self.failures, threshold)

    def circuit(self, now: float, threshold: int, half_open_s: float) -> Circuit:
        if self.state(threshold) != UNHEALTHY:
            return "closed"
        if self.last_failure_at is not None and now - self.last_failure_at < half_open_s:
            return "open"
        return "half_open"

    def reopens_in(self, now: float, half_open_s: float) -> float:
        if self.last_failure_at is None:
            return 0.0
        return max(0.0, self.last_failure_at + half_open_s - now)

    def trial_in_flight(self, now: float) -> bool:
        """A trial whose outcome never arrives (the client went away mid-call) stops blocking
        new trials once its lease has run out."""
        return self.trial_since is not None and now - self.trial_since < self.trial_lease_s

    def start_trial(self, now: float, lease_s: float) -> None:
        self.trial_since = now
        self.trial_lease_s = lease_s

    def failed(self, now: float, error: str) -> None:
        self.failures += 1
        self.total_failures += 1
        self.last_failure_at = now
        self.last_error = error
        self.trial_since = None

    def succeeded(self, now: float) -> None:
        self.failures = 0
        self.total_successes += 1
        self.last_success_at = now
        self.trial_since = None
