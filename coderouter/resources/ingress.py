"""The three ingress endpoints share one resource: read, validate, route, write."""

from __future__ import annotations

import hmac
import json
import logging
import os
from typing import TYPE_CHECKING, Any

import falcon
import falcon.asgi

from coderouter.disconnect import SCOPE_KEY
from coderouter.router import Reply, StreamReply
from coderouter.types import Ingress
from coderouter.wire import wire_format

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = [
    "IngressKeys",
    "IngressResource",
    "install_error_handler",
    "read_json_body",
    "write_reply",
]

logger = logging.getLogger("coderouter")


class BadRequest(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def ingress_keys(context: AppContext) -> list[str]:
    env = context.config.server.api_keys_env
    if not env:
        return []
    return [k.strip() for k in os.environ.get(env, "").split(",") if k.strip()]


OPEN_PATHS = frozenset({"/", "/healthz"})
"""Answered without an ingress key: Claude Code's pre-connect ``HEAD /`` and health checks."""


def ingress_of_path(path: str) -> Ingress:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/responses"):
        return "openai_responses"
    return "openai_chat"


class IngressKeys:
    """Optional ingress keys for shared deployments (``server.api_keys_env``): every route but
    ``/`` and ``/healthz`` (plugin routes such as ``/metrics`` included) needs one, sent as
    ``x-api-key`` or ``Authorization: Bearer``."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if not self.keys or req.path in OPEN_PATHS:
            return
        offered = req.get_header("x-api-key") or ""
        auth = req.get_header("authorization") or ""
        if not offered and auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        if any(hmac.compare_digest(offered, key) for key in self.keys):
            return
        write_error(
            resp,
            ingress_of_path(req.path),
            401,
            "authentication",
            "missing or invalid API key for this router "
            "(send it as x-api-key or Authorization: Bearer)",
        )
        resp.complete = True


async def read_json_body(req: falcon.asgi.Request, limit: int) -> dict[str, Any]:
    length = req.content_length
    if length is not None and length > limit:
        raise BadRequest(
            413,
            "request_too_large",
            f"request body is {length} bytes; the limit is {limit} bytes (server.max_body_bytes)",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in req.stream:
        size += len(chunk)
        if size > limit:
            raise BadRequest(
                413,
                "request_too_large",
                f"request body is over the limit of {limit} bytes (server.max_body_bytes)",
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest(400, "invalid_request", "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "invalid_request", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(
            400, "invalid_request", f"request body must be a JSON object, got {type(body).__name__}"
        )
    return body


def write_reply(resp: falcon.asgi.Response, reply: Reply | StreamReply) -> None:
    resp.status = reply.status
    resp.set_headers(reply.headers)
    if isinstance(reply, StreamReply):
        resp.stream = reply.chunks
    else:
        resp.data = reply.body


def write_error(
    resp: falcon.asgi.Response, ingress: Ingress, status: int, error_type: str, message: str
) -> None:
    wire = wire_format(ingress)
    resp.status = status
    resp.content_type = "application/json"
    resp.data = json.dumps(wire.error_body(error_type, message)).encode()


class IngressResource:
    def __init__(self, context: AppContext, ingress: Ingress) -> None:
        self.context = context
        self.ingress: Ingress = ingress
        self.wire = wire_format(ingress)
        self.limit = context.config.server.max_body_bytes

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.ingress = self.ingress
        try:
            body = await read_json_body(req, self.limit)
            self.wire.validate_request(body)
        except BadRequest as exc:
            write_error(resp, self.ingress, exc.status, exc.error_type, exc.message)
            return
        except ValueError as exc:
            write_error(resp, self.ingress, 400, "invalid_request", str(exc))
            return
        reply = await self.context.router.handle(
            self.ingress, body, req.headers_lower, req.path, disconnected=req.scope.get(SCOPE_KEY)
        )
        write_reply(resp, reply)


def install_error_handler(app: falcon.asgi.App[Any, Any], context: AppContext) -> None:
    """Any unexpected exception becomes a 500 in the client's wire format; the worker lives."""

    async def handle(
        req: falcon.asgi.Request, resp: falcon.asgi.Response, exc: Exception, params: dict[str, Any]
    ) -> None:
        if isinstance(exc, falcon.HTTPError):
            ingress = getattr(req.context, "ingress", None)
            if ingress is None:
                resp.status = exc.status
                resp.media = exc.to_dict()
                return
            write_error(
                resp,
                ingress,
                exc.status_code,
                "invalid_request",
                exc.title + (f": {exc.description}" if exc.description else ""),
            )
            return
        logger.exception("unhandled error on %s %s", req.method, req.path)
        context.log.emit(
            {"event": "internal_error", "path": req.path, "error": f"{type(exc).__name__}: {exc}"}
        )
        write_error(
            resp,
            getattr(req.context, "ingress", "openai_chat"),
            500,
            "api_error",
            f"internal error in the router: {type(exc).__name__}",
        )

    app.add_error_handler(Exception, handle)
