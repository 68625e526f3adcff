"""The chain gates and the output clamp, as plain functions over resolved capabilities."""

from __future__ import annotations

from collections.abc import Callable

from coderouter.config import ProviderConfig
from coderouter.types import Capabilities, Chain
from coderouter_capabilities.needs import Needs

__all__ = ["clamp", "prefer_capable", "skip_over_context"]

Lookup = Callable[[ProviderConfig], Capabilities]


def skip_over_context(
    chain: Chain, lookup: Lookup, estimate: Callable[[], int], by: str
) -> list[str]:
    """Skip every provider whose ``max_context_tokens`` is below the request's estimated
    size. The estimate runs only when some provider declares a limit."""
    limits = {p.name: lookup(p).max_context_tokens for p in chain.providers}
    if all(limit is None for limit in limits.values()):
        return []
    size = estimate()
    skipped = []
    for name, limit in limits.items():
        if limit is not None and size > limit:
            chain.skip(name, f"request is ~{size} tokens, over max_context_tokens {limit}", by=by)
            skipped.append(name)
    return skipped


# Applied least important first: each later partition is stable, so the last one (vision)
# decides the order and the earlier ones order the providers within its groups.
_PREFERENCES = (
    ("thinking", "thinking", "the request asks for thinking; no thinking support"),
    ("tools", "tools", "the request has tools; no tool support"),
    ("images", "vision", "the request has images; no vision support"),
)


def _has(flag: str, lookup: Lookup) -> Callable[[ProviderConfig], bool]:
    return lambda provider: getattr(lookup(provider), flag) is not False


def prefer_capable(
    chain: Chain,
    lookup: Lookup,
    needs_of_request: Callable[[], Needs],
    by: str,
    *,
    prefer_thinking: bool = False,
) -> list[str]:
    """Providers known to lack what the request needs move behind the others, in their
    order. Unknown capabilities count as present: only a declared ``false`` moves a
    provider, so the request is inspected only when some provider declares one. Thinking
    counts only with ``prefer_thinking``: a model that cannot think still answers, with the
    field dropped."""
    preferences = [p for p in _PREFERENCES if prefer_thinking or p[0] != "thinking"]
    lacking = {
        flag
        for provider in chain.providers
        for _, flag, _ in preferences
        if getattr(lookup(provider), flag) is False
    }
    if not lacking:
        return []
    needs = needs_of_request()
    moved: list[str] = []
    for need, flag, reason in preferences:
        if flag in lacking and getattr(needs, need):
            moved += chain.prefer(_has(flag, lookup), reason, by=by)
    return moved


def clamp(requested: int | None, current: int | None, limit: int | None) -> int | None:
    """The ``attempt.max_tokens`` to set when the request asks for more output than the
    provider gives, else ``None`` (leave it). Never raises a clamp another plugin set."""
    if limit is None or requested is None or requested <= limit:
        return None
    if current is not None and current <= limit:
        return None
    return limit
