"""Errors the router writes itself, in the wire format of the route that was asked."""

from __future__ import annotations

import json

import falcon.asgi

from coderouter.types import Ingress
from coderouter.wire import wire_format

__all__ = ["BadRequest", "write_error"]


class BadRequest(Exception):
    """A client request the router refuses before routing it: status, wire-neutral error type
    (see :data:`coderouter.wire.base.ERROR_STATUS`) and the message naming what is wrong."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def write_error(
    resp: falcon.asgi.Response, ingress: Ingress, status: int, error_type: str, message: str
) -> None:
    wire = wire_format(ingress)
    resp.status = status
    resp.content_type = "application/json"
    resp.data = json.dumps(wire.error_body(error_type, message)).encode()
    if status == 408:
        # The request was not read whole, so what follows it on the connection is not a request.
        resp.set_header("connection", "close")
