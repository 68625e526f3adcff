"""``POST /v1/messages/count_tokens``: Claude Code's ``/context`` fires about 14 at once.

The count comes from the profile's first provider when it is an Anthropic one (a real count);
otherwise, or when that call fails, from the local estimate. A well-formed body never gets an
error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import falcon.asgi

from coderouter.resources.ingress import (
    BadRequest,
    read_json_body,
    write_error,
)
from coderouter.router import ProfileError
from coderouter.types import RequestView
from coderouter.upstream import endpoint_of, headers_for
from coderouter.wire.anthropic import FORMAT

if TYPE_CHECKING:
    from coderouter.config import ProviderConfig
    from coderouter.context import AppContext

__all__ = ["CountTokensResource"]


class CountTokensResource:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.ingress = "anthropic"
        try:
            body = await read_json_body(req, self.context.config.server.max_body_bytes)
            FORMAT.validate_count_tokens(body)
            view = RequestView("anthropic", body, req.headers_lower, req.path)
            profile = self.context.router.select_profile(view)
        except BadRequest as exc:
            write_error(resp, "anthropic", exc.status, exc.error_type, exc.message)
            return
        except (ValueError, ProfileError) as exc:
            write_error(resp, "anthropic", 400, "invalid_request", str(exc))
            return
        counted = await self._upstream_count(profile, view)
        source = "upstream" if counted is not None else "estimate"
        if counted is None:
            counted = view.estimated_tokens()
        resp.set_header("x-coderouter-token-count", source)
        resp.media = {"input_tokens": counted}

    async def _upstream_count(self, profile: str, view: RequestView) -> int | None:
        config = self.context.config
        first: ProviderConfig = config.profile_chain(profile)[0]
        if first.kind != "anthropic" or (first.paid and not config.paid_allowed(profile)):
            return None
        body: dict[str, Any] = {k: v for k, v in view.body.items() if k != "profile"}
        body["model"] = first.model_for(view.model)
        url = endpoint_of(first) + "/count_tokens"
        try:
            response = await self.context.client.post(
                url,
                content=json.dumps(body).encode(),
                headers=headers_for(first, view.headers, stream=False),
                timeout=10.0,
            )
        except Exception:  # any failure of the real count falls back to the estimate
            return None
        if response.status_code != 200:
            return None
        try:
            value = response.json().get("input_tokens")
        except ValueError:
            return None
        return value if isinstance(value, int) else None
