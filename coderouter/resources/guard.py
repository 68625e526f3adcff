"""Checks every request passes before any resource runs: an allowed ``Host``, an ingress key
when keys are configured, and a JSON content type on the model routes.

The last two close the keyless localhost default to web pages: a page from any origin may send
a ``text/plain`` POST without asking (a "simple" cross-origin request), and one that rebinds
its own name to 127.0.0.1 is same-origin. A JSON content type forces a CORS preflight, which
the router never grants; the ``Host`` check refuses the rebound name.
"""

from __future__ import annotations

import falcon.asgi

from coderouter.resources.errors import write_error
from coderouter.resources.signin import DashboardSignIn
from coderouter.security import host_allowed, key_matches
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
    """Falcon middleware. ``keys`` (``server.api_keys_env``) guard every route but
    :data:`OPEN_PATHS`, plugin routes such as ``/metrics`` included; ``allowed_hosts`` extend
    the loopback names accepted in ``Host``. ``signin`` lets a browser without a key sign in
    on the read pages; a request it lets in has ``req.context.signed_in_by_cookie`` set."""

    def __init__(
        self,
        keys: list[bytes],
        allowed_hosts: frozenset[str],
        signin: DashboardSignIn | None = None,
    ) -> None:
        self.keys = keys
        self.allowed_hosts = allowed_hosts
        self.signin = signin

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
        if self.keys and not key_matches(_offered_key(req), self.keys):
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
        self._check_json(req, resp, ingress)

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
    ) -> None:
        if req.method == "POST" and req.path in INGRESS_ROUTES and not _is_json(req.content_type):
            write_error(
                resp,
                ingress,
                415,
                "invalid_request",
                f"content-type must be application/json, got {req.content_type or 'none'}",
            )
            resp.complete = True
