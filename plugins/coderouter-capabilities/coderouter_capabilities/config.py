"""``[plugins.capabilities]`` and its per-profile overrides."""

from __future__ import annotations

import attrs

__all__ = ["REGISTRY_KEYS", "CapabilitiesConfig"]


@attrs.frozen
class CapabilitiesConfig:
    """``registry_file`` and ``bundled_registry`` choose the sources and are shared by every
    profile; the gates may be switched per profile. Thinking orders the chain only with
    ``prefer_thinking``: Claude Code asks for thinking on every turn, and moving a local model
    that cannot think behind a cloud one for it would send every turn to the cloud."""

    registry_file: str = ""
    bundled_registry: bool = True
    skip_over_context: bool = True
    prefer_capable: bool = True
    prefer_thinking: bool = False
    clamp_max_tokens: bool = True


REGISTRY_KEYS = ("registry_file", "bundled_registry")
