"""Checks every request passes before any resource runs: an allowed ``Host``, an ingress key
when keys are configured, a JSON content type on the model routes, and the key's request rate.

A known key's name goes on ``req.context.key_name`` (the router and plugins see it on
``RequestView.key_name``); :meth:`IngressGuard.key_name` is that lookup.

The last two close the keyless localhost default to web pages: a page from any origin may send
a ``text/plain`` POST without asking (a "simple" cross-origin request), and one that rebinds
its own name to 127.0.0.1 is same-origin. A JSON content type forces a CORS preflight, which
the router never grants; the ``Host`` check refuses the rebound name.
"""

from __future__ import annotations

import math

import falcon.asgi

from coderouter.log import RequestLog
from coderouter.resources.errors import write_error
from coderouter.resources.signin import DashboardSignIn
from coderouter.security import KeyRing, host_allowed
from coderouter.state import EmbeddedStore, StateStore
from coderouter.types import Ingress

__all__ = ["INGRESS_ROUTES", "OPEN_PATHS", "IngressGuard", "ingress_of_path"]

OPEN_PATHS = frozenset({"/", "/healthz"})
"""Answered without a key and whatever the ``Host``: Claude Code's pre-connect ``HEAD /`` and
health checks (a container's probe names the pod's address); they reveal nothing."""

INGRESS_ROUTES: dict[str, Ingress] = {
    "/v1/messages": "anthropic",
    "/v1/messages/count_tokens": "anthropic",
    "/v1/chat/completions": "openai_chat",
    "/v1/responses": "openai_responses",
}

RATE_LIMITED = frozenset(INGRESS_ROUTES) - {"/v1/messages/count_tokens"}
"""The routes a key's ``requests_per_minute`` counts: those that call a model."""


def ingress_of_path(path: str) -> Ingress:
    """The wire format errors on ``path`` are written in: the route's own, else the one its
    words suggest (``/messages`` is Anthropic's), else Chat Completions."""
    found = INGRESS_ROUTES.get(path)
    if found is not None:
        return found
    if "/messages" in path:
        return "anthropic"
    if "/responses" in path:
        return "openai_responses"
    return "openai_chat"


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _offered_key(req: falcon.asgi.Request) -> bytes:
    """The key as the client's bytes (headers arrive decoded as Latin-1, so this is lossless;
    a key with non-ASCII bytes then simply does not match)."""
    offered = req.get_header("x-api-key") or ""
    if not offered:
        auth = req.get_header("authorization") or ""
        if auth[:7].lower() == "bearer ":
            offered = auth[7:].strip()
    return offered.encode("latin-1", "replace")


class IngressGuard:
    """Falcon middleware. ``keys`` (``server.api_keys_env`` and ``[[server.keys]]``) guard
    every route but :data:`OPEN_PATHS`, plugin routes such as ``/metrics`` included;
    ``allowed_hosts`` extend the loopback names accepted in ``Host``; ``store`` holds the keys'
    token buckets; ``log`` gets a ``key_rate_limited`` event for each request refused for its
    key's rate. ``signin`` lets a browser without a key sign in on the read pages; a request
    it lets in has ``req.context.signed_in_by_cookie`` set."""

    def __init__(
        self,
        keys: KeyRing,
        allowed_hosts: frozenset[str],
        store: StateStore | None = None,
        signin: DashboardSignIn | None = None,
        log: RequestLog | None = None,
    ) -> None:
        self.keys = keys
        self.allowed_hosts = allowed_hosts
        self.store = store if store is not None else EmbeddedStore()
        self.signin = signin
        self.log = log
        self.limited = {name: key for name, key in keys.keys.items() if key.rate_per_s}

    def key_name(self, req: falcon.asgi.Request) -> str | None:
        """The name of the key the request sends (``x-api-key`` or ``Authorization:
        Bearer``), or None when it sends no known key."""
        return self.keys.name_of(_offered_key(req))

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if req.path in OPEN_PATHS:
            return
        ingress = ingress_of_path(req.path)
        if not host_allowed(req.get_header("host"), self.allowed_hosts):
            write_error(
                resp,
                ingress,
                403,
                "permission",
                f"Host {req.get_header('host')!r} is not allowed; the router answers loopback "
                "names and server.allowed_hosts",
            )
            resp.complete = True
            return
        name = ""
        if self.keys:
            found = self.key_name(req)
            if found is None:
                if await self._signed_in(req, resp):
                    return
                write_error(
                    resp,
                    ingress,
                    401,
                    "authentication",
                    "missing or invalid API key for this router "
                    "(send it as x-api-key or Authorization: Bearer)",
                )
                resp.complete = True
                return
            req.context.key_name = name = found
        if self._check_json(req, resp, ingress) and name in self.limited:
            await self._limit_rate(name, req, resp, ingress)

    async def _signed_in(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> bool:
        """A request without a key that the browser sign-in lets through (a read page with its
        cookie) or answers itself (the form, its post, sign-out)."""
        if self.signin is None:
            return False
        if self.signin.accepts(req):
            req.context.signed_in_by_cookie = True
            return True
        if await self.signin.answer(req, resp):
            resp.complete = True
            return True
        return False

    def _check_json(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, ingress: Ingress
    ) -> bool:
        """Refuse a model route's POST that is not JSON; True for a model route's POST that
        may go on."""
        if req.method != "POST" or req.path not in INGRESS_ROUTES:
            return False
        if not _is_json(req.content_type):
            write_error(
                resp,
                ingress,
                415,
                "invalid_request",
                f"content-type must be application/json, got {req.content_type or 'none'}",
            )
            resp.complete = True
            return False
        return True

    async def _limit_rate(
        self, name: str, req: falcon.asgi.Request, resp: falcon.asgi.Response, ingress: Ingress
    ) -> None:
        """Take a token from the key's bucket; without one, answer 429 with ``retry-after``."""
        if req.path not in RATE_LIMITED:
            return
        key = self.limited[name]
        assert key.rate_per_s is not None
        wait = await self.store.take_token(f"key:{name}", key.rate_per_s, key.bucket_size)
        if wait <= 0:
            return
        retry = max(1, math.ceil(wait))
        write_error(
            resp,
            ingress,
            429,
            "rate_limit",
            f"key {name!r} is over its rate limit of {key.requests_per_minute:g} requests per "
            f"minute (burst {key.bucket_size}); retry in {retry} s",
        )
        resp.set_header("retry-after", str(retry))
        resp.complete = True
        if self.log is not None:
            self.log.emit(
                {"event": "key_rate_limited", "key": name, "path": req.path, "retry_after_s": retry}
            )
