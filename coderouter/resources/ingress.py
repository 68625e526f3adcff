"""The three ingress endpoints share one resource: read, validate, route, write."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import falcon
import falcon.asgi

from coderouter.disconnect import SCOPE_KEY
from coderouter.hookcalls import PluginHookError
from coderouter.redact import install_log_redaction
from coderouter.resources.errors import BadRequest, write_error
from coderouter.resources.guard import INGRESS_ROUTES, ingress_of_path
from coderouter.router import Reply, StreamReply
from coderouter.types import Ingress
from coderouter.wire import wire_format
from coderouter.wire.check import find_text_problem

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = [
    "BadRequest",
    "IngressResource",
    "install_error_handler",
    "read_json_body",
    "write_error",
    "write_reply",
]

logger = logging.getLogger("coderouter")
install_log_redaction()


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
    if length is not None and size < length:
        # The stream ends early only when the client stopped sending: it left, or it did not
        # send the whole body within server.body_timeout_s.
        raise BadRequest(
            408,
            "timeout",
            f"the request body stopped after {size} of its {length} bytes; the router waits "
            "server.body_timeout_s for a whole body",
        )
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest(400, "invalid_request", "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, "invalid_request", f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(
            400, "invalid_request", "request body is nested too deeply to be a request"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest(
            400, "invalid_request", f"request body must be a JSON object, got {type(body).__name__}"
        )
    if b"\\ud" in raw or b"\\uD" in raw:
        # A \\u escape of a surrogate: UTF-8 bytes cannot carry one otherwise. A lone one would
        # fail wherever the body, or an answer echoing part of it, is encoded.
        problem = find_text_problem(body, max_depth=0)
        if problem is not None:
            raise BadRequest(400, "invalid_request", problem)
    return body


def write_reply(resp: falcon.asgi.Response, reply: Reply | StreamReply) -> None:
    resp.status = reply.status
    resp.set_headers(reply.headers)
    if isinstance(reply, StreamReply):
        resp.stream = reply.chunks
    else:
        resp.data = reply.body


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
            self.ingress,
            body,
            req.headers_lower,
            req.path,
            disconnected=req.scope.get(SCOPE_KEY),
            key_name=getattr(req.context, "key_name", ""),
        )
        write_reply(resp, reply)


_STATUS_TYPES = {404: "not_found", 413: "request_too_large"}


def _wants_wire_error(req: falcon.asgi.Request, exc: falcon.HTTPError) -> bool:
    """Model routes, anything under ``/v1`` and unknown paths answer in a wire format (the
    asker is an API client); other routes (plugin pages) keep Falcon's own error shape."""
    return (
        req.path in INGRESS_ROUTES
        or req.path.startswith("/v1/")
        or isinstance(exc, falcon.HTTPRouteNotFound)
    )


def http_error_message(req: falcon.asgi.Request, exc: falcon.HTTPError) -> str:
    if isinstance(exc, falcon.HTTPRouteNotFound):
        return not_found_message(req.path)
    if isinstance(exc, falcon.HTTPMethodNotAllowed):
        allowed = dict(exc.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed on {req.path} (allowed: {allowed})"
    return exc.title + (f": {exc.description}" if exc.description else "")


def not_found_message(path: str) -> str:
    """What a client that asked a wrong path should change; most often the base URL."""
    message = f"no route {path}"
    if path.startswith("/v1/v1/"):
        return (
            f"{message}; did you mean {path[3:]}? The client's base URL has /v1 once too often "
            "(Anthropic clients take the router's root URL, OpenAI clients the root plus /v1)"
        )
    if "/v1" + path in INGRESS_ROUTES or path == "/models":
        return (
            f"{message}; did you mean /v1{path}? The client's base URL is missing /v1 "
            "(OpenAI clients take the router's root URL plus /v1)"
        )
    return f"{message} (routes: {', '.join(sorted(INGRESS_ROUTES))}, /v1/models, /healthz)"


def _internal_error(req: falcon.asgi.Request, exc: Exception) -> tuple[str, dict[str, Any]]:
    """Log ``exc`` with its traceback; the message for the client and the event's fields.
    A plugin's exception names the plugin and its hook: the bug is theirs to report."""
    if isinstance(exc, PluginHookError):
        error = exc.error
        logger.error(
            "plugin %r failed in its %s hook on %s %s",
            exc.plugin,
            exc.hook,
            req.method,
            req.path,
            exc_info=error,
        )
        message = (
            f"internal error in plugin {exc.plugin!r} ({exc.hook} hook): "
            f"{type(error).__name__}; the router's log has the traceback"
        )
        return message, {
            "plugin": exc.plugin,
            "hook": exc.hook,
            "error": f"{type(error).__name__}: {error}",
        }
    logger.exception("unhandled error on %s %s", req.method, req.path)
    message = f"internal error in the router: {type(exc).__name__}"
    return message, {"error": f"{type(exc).__name__}: {exc}"}


def install_error_handler(app: falcon.asgi.App[Any, Any], context: AppContext) -> None:
    """Falcon's errors (404, 405, 413 ...) in the client's wire format; any unexpected
    exception becomes a 500 in that format too, and the worker lives."""

    async def handle(
        req: falcon.asgi.Request, resp: falcon.asgi.Response, exc: Exception, params: dict[str, Any]
    ) -> None:
        if isinstance(exc, falcon.HTTPError):
            ingress = getattr(req.context, "ingress", None)
            if ingress is None and not _wants_wire_error(req, exc):
                resp.status = exc.status
                resp.media = exc.to_dict()
                resp.set_headers(exc.headers or {})
                return
            write_error(
                resp,
                ingress or ingress_of_path(req.path),
                exc.status_code,
                _STATUS_TYPES.get(exc.status_code, "invalid_request"),
                http_error_message(req, exc),
            )
            resp.set_headers(exc.headers or {})
            return
        message, fields = _internal_error(req, exc)
        context.log.emit({"event": "internal_error", "path": req.path, **fields})
        ingress = getattr(req.context, "ingress", None) or ingress_of_path(req.path)
        write_error(resp, ingress, 500, "api_error", message)

    # Falcon's own handler for HTTPError is more specific than one for Exception.
    app.add_error_handler(falcon.HTTPError, handle)
    app.add_error_handler(Exception, handle)
