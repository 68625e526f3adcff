"""Provider kinds: where a request goes, with which headers, and how failures are classified.

One ``httpx.AsyncClient`` per worker carries every upstream call. Its transport is
``httpx-aiohttp`` (measured in bench/: several times less CPU per request than httpx's default
transport, and it holds hundreds of concurrent streams); tests pass ``httpx.MockTransport`` or
talk to real loopback servers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx

from coderouter.config import ProviderConfig
from coderouter.types import UpstreamError
from coderouter.wire import PROVIDER_WIRE, wire_format

__all__ = [
    "Upstream",
    "is_retryable_status",
    "make_client",
]

ANTHROPIC_VERSION = "2023-06-01"
MAX_ERROR_BODY = 64 * 1024
_TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError, OSError)


def is_retryable_status(status: int) -> bool:
    """Server-side failures and provider-specific refusals move on; other 4xx are final (the
    request itself is wrong and another provider would only repeat the mistake).

    401 and 403 move on: they mean this provider's key is wrong or lacks access, which says
    nothing about the request, and answering the client 401 would make coding agents retry
    for minutes."""
    return status in (401, 403, 404, 408, 425, 429) or status >= 500


class _NoCookies(httpx.Cookies):
    """Upstream APIs set no cookies the router should keep; skipping the cookie jar saves a
    measurable share of each request's CPU."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _RouterClient(httpx.AsyncClient):
    _no_cookies = _NoCookies()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: Any) -> None:
        return None


def make_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The worker's upstream client. Limits allow hundreds of concurrent streams."""
    limits = httpx.Limits(
        max_connections=2048, max_keepalive_connections=256, keepalive_expiry=30.0
    )
    if transport is None:
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits)
    return _RouterClient(transport=transport, limits=limits, timeout=None)


def endpoint_of(provider: ProviderConfig) -> str:
    base = provider.base_url.rstrip("/")
    if provider.kind == "anthropic":
        return base + "/v1/messages" if not base.endswith("/v1") else base + "/messages"
    return base + "/chat/completions"


def headers_for(
    provider: ProviderConfig, client_headers: Mapping[str, str], stream: bool
) -> dict[str, str]:
    """Upstream headers. The client's own credentials are never forwarded: keys come from
    ``api_key_env`` only."""
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    key = provider.api_key
    if provider.kind == "anthropic":
        headers["anthropic-version"] = client_headers.get("anthropic-version", ANTHROPIC_VERSION)
        beta = client_headers.get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        if key:
            headers["x-api-key"] = key
    elif key:
        headers["authorization"] = f"Bearer {key}"
    headers.update(provider.headers)
    return headers


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class Upstream:
    """Sends encoded requests to providers and turns every failure into an
    :class:`UpstreamError`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self._targets: dict[str, tuple[httpx.URL, httpx.Timeout]] = {}

    def _target(self, provider: ProviderConfig) -> tuple[httpx.URL, httpx.Timeout]:
        """The provider's parsed URL and timeouts, built once (URL parsing is a large share
        of a request's CPU)."""
        found = self._targets.get(provider.name)
        if found is None:
            timeout = httpx.Timeout(
                provider.timeout_s,
                connect=provider.connect_timeout_s,
                pool=provider.connect_timeout_s,
            )
            found = self._targets[provider.name] = (httpx.URL(endpoint_of(provider)), timeout)
        return found

    async def open(
        self,
        provider: ProviderConfig,
        body: bytes,
        client_headers: Mapping[str, str],
        *,
        stream: bool,
    ) -> httpx.Response:
        """Send the request and return the open response (status < 400); the caller reads and
        closes it."""
        url, timeout = self._target(provider)
        request = self.client.build_request(
            "POST",
            url,
            content=body,
            headers=headers_for(provider, client_headers, stream),
            timeout=timeout,
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError):
                reason = cause.os_error.strerror or str(cause.os_error)
                message = f"cannot connect to {cause.host}:{cause.port}: {reason}"
                raise UpstreamError("connect", message) from exc
            raise UpstreamError("timeout", _describe(exc) or "timed out") from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError("connect", _describe(exc)) from exc
        if response.status_code >= 400:
            raise await self._status_error(provider, response)
        return response

    async def _status_error(
        self, provider: ProviderConfig, response: httpx.Response
    ) -> UpstreamError:
        try:
            raw = await _read_limited(response.aiter_bytes(), MAX_ERROR_BODY)
        except _TRANSPORT_ERRORS:
            raw = b""
        finally:
            await response.aclose()
        text = raw.decode("utf-8", errors="replace")
        message = text.strip()[:500]
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            found = wire_format(PROVIDER_WIRE[provider.kind]).error_message(parsed)
            message = found or message
        status = response.status_code
        return UpstreamError(
            "status",
            message or response.reason_phrase or f"HTTP {status}",
            status=status,
            retryable=is_retryable_status(status),
            body=text,
            retry_after_s=_retry_after(response),
        )

    async def read_json(self, response: httpx.Response) -> tuple[bytes, dict[str, Any]]:
        """The whole body, raw and parsed (the raw bytes serve same-format answers as is)."""
        try:
            raw = await response.aread()
        except httpx.TimeoutException as exc:
            raise UpstreamError("timeout", "timed out reading the response") from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError("stream_cut", _describe(exc)) from exc
        finally:
            await response.aclose()
        try:
            body = json.loads(raw)
        except ValueError:
            raise UpstreamError(
                "bad_response", f"upstream answered non-JSON: {raw[:200]!r}"
            ) from None
        if not isinstance(body, dict):
            raise UpstreamError("bad_response", "upstream answered JSON that is not an object")
        return raw, body

    async def iter_bytes(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The body as it arrives; transport failures become ``stream_cut`` errors."""
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamError("timeout", "timed out waiting for the stream") from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError("stream_cut", _describe(exc) or "connection lost") from exc


async def _read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def _describe(exc: BaseException) -> str:
    text = str(exc)
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}" if text else str(cause)
    return text or type(exc).__name__
