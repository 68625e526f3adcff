"""Non-model endpoints: ``/``, ``/healthz``, ``/v1/models``, ``/-/plugins``."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

import falcon.asgi

from coderouter.about import version
from coderouter.plugins import describe_plugins, plugin_states
from coderouter.security import describe_keys

if TYPE_CHECKING:
    from coderouter.context import AppContext

__all__ = ["HealthResource", "ModelsResource", "PluginsResource", "RootResource"]


ENDPOINTS = (
    "/v1/messages",
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/models",
    "/healthz",
    "/-/plugins",
)


def _root_page(pages: dict[str, str]) -> str:
    """What a browser opening the router's address sees: the pages, then the endpoints."""
    links = "".join(
        f'<li><a href="{html.escape(path)}">{html.escape(name)}</a></li>'
        for name, path in pages.items()
    )
    if not links:
        links = "<li>no pages (enable the metrics plugin for the dashboard)</li>"
    endpoints = "".join(f"<li><code>{path}</code></li>" for path in ENDPOINTS)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CodeRouter</title>'
        "</head><body><h1>CodeRouter " + html.escape(version()) + "</h1>"
        f"<h2>Pages</h2><ul>{links}</ul><h2>API endpoints</h2><ul>{endpoints}</ul>"
        "</body></html>"
    )


class RootResource:
    """``HEAD /`` is Claude Code's pre-connect; ``GET /`` says what this is."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        pages = dict(self.context.pages)
        if req.client_prefers(["application/json", "text/html"]) == "text/html":
            resp.content_type = "text/html; charset=utf-8"
            resp.text = _root_page(pages)
            return
        resp.media = {
            "name": "coderouter",
            "version": version(),
            "endpoints": list(ENDPOINTS),
            "pages": pages,
        }

    async def on_head(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.status = 200
        resp.content_type = "application/json"


class HealthResource:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {
            "status": "ok",
            "version": version(),
            "profiles": list(self.context.config.profiles),
            "uptime_s": round(time.time() - self.context.started_at, 1),
        }

    on_head = on_get


class ModelsResource:
    """The profiles as models, in OpenAI's or (with ``anthropic-version``) Anthropic's list
    shape. Only profiles: each id sent back as ``model`` selects that profile, where a
    provider's model name would route to the default profile instead."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def _ids(self) -> list[tuple[str, str]]:
        config = self.context.config
        return [
            (name, f"profile {name}: {' -> '.join(profile.providers)}")
            for name, profile in config.profiles.items()
        ]

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        ids = self._ids()
        if req.get_header("anthropic-version"):
            data: list[dict[str, Any]] = [
                {
                    "type": "model",
                    "id": i,
                    "display_name": label,
                    "created_at": "2025-01-01T00:00:00Z",
                }
                for i, label in ids
            ]
            resp.media = {
                "data": data,
                "has_more": False,
                "first_id": ids[0][0] if ids else None,
                "last_id": ids[-1][0] if ids else None,
            }
            return
        resp.media = {
            "object": "list",
            "data": [
                {"id": i, "object": "model", "created": 0, "owned_by": "coderouter"} for i, _ in ids
            ],
        }


class PluginsResource:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        info = describe_plugins(self.context.pm, self.context.config)
        info["state"] = plugin_states(self.context.pm)
        info["cooldowns"] = self.context.router.cooldowns.describe()
        info["store"] = self.context.store.describe()
        info["keys"] = describe_keys(self.context.config)
        resp.media = info
