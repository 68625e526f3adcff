"""The essential core behaviour, registered in every plugin manager and never disabled."""

from __future__ import annotations

from coderouter.chains import default_chain
from coderouter.config import Config
from coderouter.hookspecs import hookimpl
from coderouter.types import Chain, RequestView

__all__ = ["CorePlugin"]


class CorePlugin:
    """Core defaults that plugins may override (``trylast``)."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config

    @hookimpl(trylast=True)
    def resolve_chain(self, request: RequestView, profile: str) -> Chain | None:
        if self.config is None:
            return None
        return default_chain(self.config, profile)
