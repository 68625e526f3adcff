"""CodeRouter model capability registry.

Answers ``capabilities_for(provider)`` from the provider's own ``capabilities`` table, a
registry file and a bundled registry of well-known models, and uses the answers to gate each
request's chain (context size, images, tools, thinking) and to clamp ``max_tokens``.
"""

from coderouter_capabilities.config import CapabilitiesConfig
from coderouter_capabilities.plugin import CapabilitiesPlugin
from coderouter_capabilities.registry import Registry, RegistryError

__all__ = ["CapabilitiesConfig", "CapabilitiesPlugin", "Registry", "RegistryError"]
