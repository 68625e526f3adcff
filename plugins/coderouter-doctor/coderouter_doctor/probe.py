"""What a probe is, what it gets and what it returns.

A probe is an object with a ``name``, an ``estimated_tokens`` figure (what one run costs on a
paid provider), a ``required`` flag and an async ``run(context)``. Plugins contribute probes
through the ``doctor_probes`` hook; the doctor's own probes come the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

import attrs

from coderouter.config import Config, ProviderConfig
from coderouter.types import Capabilities
from coderouter_doctor.client import ProbeClient
from coderouter_doctor.patch import Patch

__all__ = ["FAILURES", "VERDICTS", "Probe", "ProbeContext", "ProbeResult", "Verdict"]

Verdict = Literal["ok", "needs_tuning", "unsupported", "auth_fail", "transport_error", "skip"]
VERDICTS: tuple[Verdict, ...] = (
    "ok",
    "needs_tuning",
    "unsupported",
    "auth_fail",
    "transport_error",
    "skip",
)
FAILURES: frozenset[Verdict] = frozenset({"auth_fail", "transport_error"})
"""Verdicts that make ``coderouter doctor`` exit 1 (so does a required probe that is not ok)."""


@attrs.frozen
class ProbeResult:
    """One probe's verdict on one provider, with a one-line ``reason``.

    ``patch`` is the config change that fixes a ``needs_tuning`` verdict (``--apply`` writes
    it); ``advice`` is what to change outside the config (a server flag, a command to run);
    ``metrics`` are figures for ``--json`` (tokens, seconds).
    """

    probe: str
    verdict: Verdict
    reason: str
    patch: Patch | None = None
    advice: str = ""
    metrics: dict[str, Any] = attrs.Factory(dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"probe": self.probe, "verdict": self.verdict, "reason": self.reason}
        if self.patch is not None:
            out["patch"] = self.patch.as_json()
        if self.advice:
            out["advice"] = self.advice
        if self.metrics:
            out["metrics"] = self.metrics
        return out


@attrs.frozen
class ProbeContext:
    """What a probe gets: the provider, its resolved capabilities (the ``capabilities_for``
    answer, else the provider's own ``capabilities`` table), a client that sends requests the
    way the router does, the whole config (to tell whether a plugin already covers this
    provider) and the clock every timing uses."""

    provider: ProviderConfig
    capabilities: Capabilities
    client: ProbeClient
    config: Config
    clock: Callable[[], float]

    def result(self, probe: str, verdict: Verdict, reason: str, **extra: Any) -> ProbeResult:
        return ProbeResult(probe, verdict, reason, **extra)


class Probe(Protocol):
    """A check of one provider. ``required``: when it is not ok the provider's other probes
    are skipped (``reach`` is required)."""

    @property
    def name(self) -> str: ...

    @property
    def required(self) -> bool: ...

    def estimated_tokens(self, context: ProbeContext) -> int:
        """Input plus output tokens one run spends on this provider (0 when it sends
        nothing)."""
        ...

    async def run(self, context: ProbeContext) -> ProbeResult: ...
