"""``[plugins.capabilities]`` and its per-profile overrides."""

from __future__ import annotations

import attrs

__all__ = ["REGISTRY_KEYS", "CapabilitiesConfig"]


@attrs.frozen
class CapabilitiesConfig:
    """``registry_file`` and ``bundled_registry`` choose the sources and are shared by every
    profile; the three gates may be switched per profile."""

    registry_file: str = ""
    bundled_registry: bool = True
    skip_over_context: bool = True
    prefer_capable: bool = True
    clamp_max_tokens: bool = True


REGISTRY_KEYS = ("registry_file", "bundled_registry")
