"""The HTTP routes: ``/metrics``, ``/metrics.json`` and ``/dashboard``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import falcon
import falcon.asgi

from coderouter_metrics.exposition import render

if TYPE_CHECKING:
    from coderouter_metrics.plugin import MetricsPlugin

__all__ = ["DashboardResource", "MetricsJSONResource", "MetricsResource"]

_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
).encode


def _common(resp: falcon.asgi.Response, plugin: MetricsPlugin) -> None:
    resp.cache_control = ["no-store"]
    resp.set_header("x-coderouter-worker", str(plugin.pid))


class MetricsResource:
    """Prometheus text format (OpenMetrics when the scraper asks for it)."""

    def __init__(self, plugin: MetricsPlugin) -> None:
        self.plugin = plugin

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        agg = await self.plugin.collect()
        body, content_type = render(
            agg, self.plugin.provider_names(), self.plugin.own_name, req.get_header("accept")
        )
        resp.data = body
        resp.content_type = content_type
        _common(resp, self.plugin)


class MetricsJSONResource:
    """The same values as JSON, with a summary, providers and the recent events."""

    def __init__(self, plugin: MetricsPlugin) -> None:
        self.plugin = plugin

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        document = await self.plugin.document()
        resp.data = _dumps(document).encode()
        resp.content_type = falcon.MEDIA_JSON
        _common(resp, self.plugin)


SNAPSHOT_SLOT = b'<script id="first-snapshot" type="application/json"></script>'
SIGNOUT_HIDDEN = b'<a id="signout" href="/dashboard/signout" hidden>'


def inline_json(document: object) -> bytes:
    """``document`` as JSON safe inside a ``<script>`` element: no ``<`` (so no ``</script>``
    or ``<!--`` from a reason an upstream wrote) and no line separators JavaScript rejects."""
    text = _dumps(document).replace("<", "\\u003c")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


class DashboardResource:
    """One self-contained HTML page that polls ``metrics.json``. The page carries the first
    document inline, so it shows the numbers on its first paint instead of an empty frame."""

    def __init__(self, plugin: MetricsPlugin, page: bytes) -> None:
        if SNAPSHOT_SLOT not in page or SIGNOUT_HIDDEN not in page:
            raise ValueError("dashboard.html has no first-snapshot slot or sign-out link")
        self.plugin = plugin
        self.page = page

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        document = inline_json(await self.plugin.document())
        filled = SNAPSHOT_SLOT.replace(b"></script>", b">" + document + b"</script>")
        page = self.page.replace(SNAPSHOT_SLOT, filled, 1)
        if getattr(req.context, "signed_in_by_cookie", False):
            # The core's ingress guard let this browser in by its sign-in cookie.
            page = page.replace(SIGNOUT_HIDDEN, SIGNOUT_HIDDEN.replace(b" hidden", b""), 1)
        resp.data = page
        resp.content_type = "text/html; charset=utf-8"
        _common(resp, self.plugin)
        resp.set_header(
            "content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        )
