"""Turning an upstream failure into a verdict, the same way for every probe."""

from __future__ import annotations

from coderouter.types import UpstreamError
from coderouter_doctor.backend import model_missing_advice
from coderouter_doctor.probe import ProbeContext, ProbeResult

__all__ = ["from_error", "one_line"]

MAX_REASON = 200


def one_line(text: str, limit: int = MAX_REASON) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def from_error(probe: str, context: ProbeContext, err: UpstreamError) -> ProbeResult:
    """401/403: ``auth_fail`` naming the key variable; 404: the model is missing; 429 and 5xx,
    connection errors, timeouts and non-JSON answers: ``transport_error``; any other status:
    ``unsupported``."""
    provider = context.provider
    message = one_line(err.message)
    status = err.status
    if status in (401, 403):
        where = (
            f"check the key in ${provider.api_key_env}"
            if provider.api_key_env
            else "the provider has no api_key_env"
        )
        return context.result(probe, "auth_fail", f"HTTP {status}: {message}; {where}")
    if status == 404:
        return context.result(
            probe,
            "unsupported",
            f"model {provider.model!r} not found (HTTP 404): {message}",
            advice=model_missing_advice(provider),
        )
    if status == 429:
        return context.result(probe, "transport_error", f"rate limited (HTTP 429): {message}")
    if status is not None and status >= 500:
        return context.result(probe, "transport_error", f"HTTP {status}: {message}")
    if status is not None:
        return context.result(probe, "unsupported", f"HTTP {status}: {message}")
    return context.result(probe, "transport_error", f"{err.kind}: {message}")
