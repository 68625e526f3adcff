"""``AppContext``: what plugins get in ``startup``, ``shutdown`` and ``register_routes``.

It sits below :mod:`coderouter.hookspecs` (which names it in hook signatures) and above the
router it carries, so the plugin API can describe it without importing the app that builds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import pluggy

from coderouter.state import EmbeddedStore, StateStore

if TYPE_CHECKING:
    from coderouter.config import Config
    from coderouter.log import RequestLog
    from coderouter.router import Router

__all__ = ["AppContext"]


@attrs.define
class AppContext:
    """What plugins get in ``startup``/``shutdown``/``register_routes``: the config, the
    plugin manager, the worker's upstream client, the router, the request log and the state
    store (``[state]``) that guards keep their per-provider records in."""

    config: Config
    pm: pluggy.PluginManager
    router: Router
    log: RequestLog
    clock: Callable[[], float]
    client: httpx.AsyncClient
    started_at: float = attrs.Factory(time.time)
    pages: dict[str, str] = attrs.Factory(dict)
    """Pages for people that plugins serve (``{"dashboard": "/dashboard"}``), set in
    ``register_routes``; ``GET /`` links them."""
    state: dict[str, Any] = attrs.Factory(dict)
    store: StateStore = attrs.Factory(EmbeddedStore)
