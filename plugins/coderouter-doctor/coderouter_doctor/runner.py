"""Running probes: one provider's in sequence, providers in parallel, paid ones only when
allowed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pluggy

from coderouter.config import Config, ProviderConfig
from coderouter.http1 import Http1Client
from coderouter.types import Capabilities
from coderouter.upstream import Upstream, make_client
from coderouter_doctor.client import ProbeClient
from coderouter_doctor.probe import FAILURES, Probe, ProbeContext, ProbeResult

__all__ = ["Progress", "ProviderReport", "capabilities_of", "exit_code", "run_doctor"]

Progress = Callable[[ProviderConfig, str, ProbeResult | None], None]
"""Called with ``(provider, probe name, None)`` when a probe starts and with its result when
it ends."""

PASSED = ("ok", "skip")
ALL_PROBES = "all"
_FLAGS = tuple(a.name for a in attrs.fields(Capabilities) if a.name != "sources")


@attrs.frozen
class ProviderReport:
    provider: ProviderConfig
    results: list[ProbeResult]
    required: frozenset[str] = frozenset()

    @property
    def failed(self) -> bool:
        return any(
            r.verdict in FAILURES or (r.probe in self.required and r.verdict not in PASSED)
            for r in self.results
        )

    @property
    def needs_tuning(self) -> bool:
        return any(r.verdict == "needs_tuning" for r in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.provider.kind,
            "model": self.provider.model,
            "results": [r.as_json() for r in self.results],
        }


def exit_code(reports: Sequence[ProviderReport]) -> int:
    """1 when a probe failed, else 2 when one needs tuning, else 0."""
    if any(r.failed for r in reports):
        return 1
    return 2 if any(r.needs_tuning for r in reports) else 0


def capabilities_of(pm: pluggy.PluginManager, provider: ProviderConfig) -> Capabilities:
    """The ``capabilities_for`` answer, else the provider's own ``capabilities`` table."""
    found = pm.hook.capabilities_for(provider=provider)
    if isinstance(found, Capabilities):
        return found
    flags = {k: v for k, v in provider.capabilities.items() if k in _FLAGS}
    return Capabilities(**flags, sources=dict.fromkeys(flags, "provider config"))


def ordered(probes: Sequence[Probe]) -> list[Probe]:
    """Required probes first (they decide whether the rest run), otherwise as given."""
    return sorted(probes, key=lambda p: not p.required)


def estimate(probes: Sequence[Probe], context: ProbeContext) -> int:
    return sum(p.estimated_tokens(context) for p in probes)


async def _probe_provider(
    probes: Sequence[Probe], context: ProbeContext, progress: Progress
) -> list[ProbeResult]:
    results: list[ProbeResult] = []
    blocked = ""
    for probe in probes:
        if blocked:
            result = context.result(probe.name, "skip", blocked)
        else:
            progress(context.provider, probe.name, None)
            try:
                result = await probe.run(context)
            except Exception as exc:  # a broken probe is reported, the others still run
                reason = f"the probe itself failed: {type(exc).__name__}: {exc}"
                result = context.result(probe.name, "transport_error", reason)
            if probe.required and result.verdict != "ok":
                blocked = f"{probe.name} failed"
        progress(context.provider, probe.name, result)
        results.append(result)
    return results


def paid_skip(
    probes: Sequence[Probe], context: ProbeContext, progress: Progress
) -> list[ProbeResult]:
    """One ``skip`` for every probe of a paid provider, named ``all``."""
    tokens = estimate(probes, context)
    reason = f"paid provider: probed only with --allow-paid (about {tokens} tokens)"
    result = context.result(ALL_PROBES, "skip", reason)
    for probe in probes:
        progress(context.provider, probe.name, result)
    return [result]


async def run_doctor(
    config: Config,
    pm: pluggy.PluginManager,
    providers: Sequence[ProviderConfig],
    probes: Sequence[Probe],
    *,
    allow_paid: bool = False,
    clock: Callable[[], float] = time.monotonic,
    progress: Progress = lambda provider, probe, result: None,
    announce: Callable[[dict[str, int]], None] = lambda estimates: None,
) -> list[ProviderReport]:
    """Every probe against every provider; providers in parallel. With ``allow_paid``,
    ``announce`` gets the tokens the probes will spend on each paid provider before any
    request is sent."""
    client = make_client()
    builtin = Http1Client() if config.router.http_client == "builtin" else None
    upstream = Upstream(client, builtin)
    chosen = ordered(probes)
    required = frozenset(p.name for p in chosen if p.required)

    contexts = [
        ProbeContext(
            provider=provider,
            capabilities=capabilities_of(pm, provider),
            client=ProbeClient(upstream, provider, clock),
            config=config,
            clock=clock,
        )
        for provider in providers
    ]
    paid = {c.provider.name: estimate(chosen, c) for c in contexts if c.provider.paid}
    if paid and allow_paid:
        announce(paid)

    async def one(context: ProbeContext) -> ProviderReport:
        provider = context.provider
        if provider.paid and not allow_paid:
            return ProviderReport(provider, paid_skip(chosen, context, progress), required)
        return ProviderReport(provider, await _probe_provider(chosen, context, progress), required)

    try:
        return list(await asyncio.gather(*(one(c) for c in contexts)))
    finally:
        await client.aclose()
        if builtin is not None:
            await builtin.aclose()
