"""Falcon resources. They decode HTTP into router calls and write the router's answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import falcon.asgi

from coderouter.resources.count_tokens import CountTokensResource
from coderouter.resources.ingress import IngressResource, install_error_handler
from coderouter.resources.meta import HealthResource, ModelsResource, PluginsResource, RootResource

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["add_routes"]


def add_routes(app: falcon.asgi.App[Any, Any], context: AppContext) -> None:
    app.add_route("/v1/chat/completions", IngressResource(context, "openai_chat"))
    app.add_route("/v1/responses", IngressResource(context, "openai_responses"))
    app.add_route("/v1/messages", IngressResource(context, "anthropic"))
    app.add_route("/v1/messages/count_tokens", CountTokensResource(context))
    app.add_route("/v1/models", ModelsResource(context))
    app.add_route("/healthz", HealthResource(context))
    app.add_route("/", RootResource(context))
    app.add_route("/-/plugins", PluginsResource(context))
    install_error_handler(app, context)
