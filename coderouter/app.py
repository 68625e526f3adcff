"""``create_app(config)``: the Falcon ASGI app with its routes, plugins and upstream client."""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import falcon
import falcon.asgi
import httpx
import pluggy

from coderouter.config import Config
from coderouter.context import AppContext
from coderouter.http1 import Http1Client
from coderouter.log import RequestLog
from coderouter.plugins import attach_plugins, load_plugins
from coderouter.router import Router
from coderouter.state import CooldownRecord, MemoryRecords, build_store
from coderouter.upstream import make_client

if TYPE_CHECKING:
    from coderouter.resources.signin import DashboardSignIn
    from coderouter.security import KeyRing

__all__ = ["AppContext", "create_app"]


class _Lifespan:
    def __init__(self, context: AppContext, transport: httpx.AsyncBaseTransport | None) -> None:
        self.context = context
        self.transport = transport

    async def process_startup(self, scope: Any, event: Any) -> None:
        if self.context.client.is_closed:
            # A server may run the lifespan more than once (test clients do, per request).
            self.context.client = make_client(self.transport)
            self.context.router.upstream.client = self.context.client
        # Again at each startup: a plugin may detach in shutdown, a server may start twice.
        attach_plugins(self.context.pm, self.context)
        await _settle(self.context.pm.hook.startup(app=self.context))
        # After the plugins' startup: the store reads the namespaces they asked for.
        await self.context.store.start()

    async def process_shutdown(self, scope: Any, event: Any) -> None:
        await _settle(self.context.pm.hook.shutdown(app=self.context))
        await self.context.store.stop()
        await self.context.client.aclose()
        builtin = self.context.router.upstream.builtin
        if builtin is not None:
            await builtin.aclose()


async def _settle(results: list[Any]) -> None:
    # startup and shutdown may hand back an awaitable (a plugin opening or flushing a
    # database); each bounds its own wait.
    for result in results:
        if inspect.isawaitable(result):
            await result


def create_app(
    config: Config,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    pm: pluggy.PluginManager | None = None,
    clock: Callable[[], float] = time.monotonic,
    log: RequestLog | None = None,
) -> falcon.asgi.App[Any, Any]:
    """Build the app. ``transport`` replaces the upstream transport (tests pass
    ``httpx.MockTransport``, which also routes upstream calls through httpx instead of the
    built-in client); ``pm`` replaces plugin loading; ``clock`` drives every timer."""
    from coderouter import resources

    pm = pm if pm is not None else load_plugins(config)
    log = log if log is not None else RequestLog(enabled=config.router.log_requests)
    client = make_client(transport)
    builtin = None
    if transport is None and config.router.http_client == "builtin":
        builtin = Http1Client()
    router = Router(config, pm, client, builtin=builtin, clock=clock, log=log)
    store = build_store(config, clock=clock, log=log)
    # The core's 429 cooldowns live in the store too: shared by every host with Redis.
    router.cooldowns.records = store.records("core.cooldowns", MemoryRecords(CooldownRecord))
    context = AppContext(
        config=config, pm=pm, router=router, log=log, clock=clock, client=client, store=store
    )
    attach_plugins(pm, context)
    from coderouter.redact import credential_values, remember
    from coderouter.resources.guard import IngressGuard
    from coderouter.security import ingress_keys, key_ring

    allowed_hosts = frozenset(h.rstrip(".").lower() for h in config.server.allowed_hosts)
    keys = ingress_keys(config)
    remember(
        [p.api_key for p in config.providers]
        + [v for p in config.providers for v in credential_values(p.headers)]
        + [k.decode() for k in keys]
    )
    ring = key_ring(config)
    remember([os.environ.get(k.key_env, "") for k in config.server.keys if k.key_env])
    guard = IngressGuard(ring, allowed_hosts, store, _signin(config, ring), log)
    middleware: list[Any] = [_Lifespan(context, transport), guard]
    app = falcon.asgi.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    resources.add_routes(app, context)
    pm.hook.register_routes(app=app, context=context)
    return app


def _signin(config: Config, ring: KeyRing) -> DashboardSignIn | None:
    """The dashboard's browser sign-in, when ingress keys are set (without keys the read pages
    are open to loopback browsers and need none)."""
    if not ring:
        return None
    from coderouter.resources.signin import DashboardSignIn, load_secret

    return DashboardSignIn(
        [digest for digest, _ in ring.digests],
        load_secret(config.state_path),
        config.server.dashboard_cookie_secure,
    )
