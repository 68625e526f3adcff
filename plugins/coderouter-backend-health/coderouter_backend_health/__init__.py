"""Backend health for CodeRouter: providers that keep failing are reported, moved to the end
of the chain, or skipped by a circuit breaker (``[plugins.backend_health]``)."""

from coderouter_backend_health.config import BackendHealthConfig
from coderouter_backend_health.health import (
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    ProviderHealth,
    state_of,
)
from coderouter_backend_health.plugin import BackendHealthPlugin

__all__ = [
    "DEGRADED",
    "HEALTHY",
    "UNHEALTHY",
    "BackendHealthConfig",
    "BackendHealthPlugin",
    "ProviderHealth",
    "state_of",
]
