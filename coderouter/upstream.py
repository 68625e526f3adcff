"""Provider kinds: where a request goes, with which headers, and how failures are classified.

Upstream calls go through one of two clients per worker, both measured in bench/:

* the built-in :mod:`coderouter.http1` client (``router.http_client = "builtin"``, the
  default), a third of the CPU per call of the next (bench/bench_clients.py);
* an ``httpx.AsyncClient`` over the ``httpx-aiohttp`` transport (``router.http_client =
  "httpx"``), for what the built-in client does not do (proxies from the environment).
  Tests that pass ``httpx.MockTransport`` to :func:`coderouter.app.create_app` use this
  one too.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp
import httpx

from coderouter import http1
from coderouter.config import Deadlines, ProfileConfig, ProviderConfig, deadlines_for
from coderouter.types import UpstreamError
from coderouter.wire import PROVIDER_WIRE, wire_format
from coderouter.wire.overflow import is_context_overflow

__all__ = [
    "CallLimits",
    "Upstream",
    "UpstreamResponse",
    "is_retryable_status",
    "make_client",
    "plainly_has_content",
    "shape_problem",
]

ANTHROPIC_VERSION = "2023-06-01"
MAX_ERROR_BODY = 64 * 1024
_TRANSPORT_ERRORS = (httpx.HTTPError, aiohttp.ClientError, OSError, http1.ClientError)
_TIMEOUTS = (httpx.TimeoutException, http1.Timeout)
"""Checked before ``_TRANSPORT_ERRORS``, which include them."""


class UpstreamResponse(Protocol):
    """What the router reads of an upstream response: ``httpx.Response`` and
    :class:`coderouter.http1.Response` both are one."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def aread(self) -> bytes: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


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
    """The worker's httpx client (plugins use it; upstream calls too with
    ``router.http_client = "httpx"``). Limits allow hundreds of concurrent streams; proxies
    come from ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``."""
    limits = httpx.Limits(
        max_connections=2048, max_keepalive_connections=256, keepalive_expiry=30.0
    )
    if transport is None:
        from httpx_aiohttp import AiohttpTransport

        # aiohttp reads the proxy variables again on every request when it trusts the
        # environment, which doubles the CPU per call; it only does so when some are set.
        proxies = {k: v for k, v in urllib.request.getproxies().items() if k != "no"}

        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry or 30.0,
                ssl=httpx.create_ssl_context(),
            )
            return aiohttp.ClientSession(connector=connector, trust_env=bool(proxies))

        transport = AiohttpTransport(limits=limits, client=session)
    return _RouterClient(transport=transport, limits=limits, timeout=None)


def endpoint_of(provider: ProviderConfig) -> str:
    base = provider.base_url.rstrip("/")
    if provider.kind == "anthropic":
        return base + "/v1/messages" if not base.endswith("/v1") else base + "/messages"
    if provider.kind == "openai_responses":
        return base + "/responses"
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


class CallLimits:
    """One provider's limits within one profile, resolved once: its deadlines, its caps, and
    the built-in client's form of both."""

    __slots__ = ("deadlines", "http1", "max_response_bytes", "max_sse_event_bytes", "provider")

    def __init__(self, provider: ProviderConfig, profile: ProfileConfig | None) -> None:
        self.provider = provider
        self.deadlines: Deadlines = deadlines_for(provider, profile)
        self.max_response_bytes = provider.max_response_bytes
        self.max_sse_event_bytes = provider.max_sse_event_bytes
        self.http1 = http1.Limits(
            max_response_bytes=provider.max_response_bytes,
            max_decompressed_bytes=provider.max_decompressed_bytes,
            max_trailer_bytes=provider.max_trailer_bytes,
            first_byte_timeout_s=self.deadlines.first_byte_timeout_s,
            total_timeout_s=self.deadlines.total_timeout_s,
        )


def _all_objects(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(item, dict) for item in items)


def shape_problem(kind: str, body: dict[str, Any]) -> str:
    """Why ``body`` is not a successful answer of provider ``kind``, or ``""``: what a relay
    would pass on, or a translation read as an empty answer."""
    if kind == "openai":
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            return "no choices"
        if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
            return "a choice without a message object"
    elif kind == "anthropic":
        if body.get("type") != "message":
            return f"type is {str(body.get('type'))[:40]!r}, not 'message'"
        if not _all_objects(body.get("content")):
            return "content is not a list of blocks"
    elif kind == "openai_responses":
        if body.get("object", "response") != "response":
            return f"object is {str(body.get('object'))[:40]!r}, not 'response'"
        if not _all_objects(body.get("output")):
            return "output is not a list of items"
    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        # The answer could not be priced: relaying it would forget its spend.
        return "usage is not an object"
    return ""


def plainly_has_content(kind: str, body: dict[str, Any]) -> bool:
    """Whether ``body`` visibly holds content, read without decoding it: the first Chat
    choice's message text, an Anthropic text, thinking or tool_use block. ``False`` only means
    "not visibly" (a tool call, a list of parts, a Responses body): decode to be sure."""
    if kind == "openai":
        message = body["choices"][0]["message"]
        content = message.get("content")
        return isinstance(content, str) and bool(content)
    if kind == "anthropic":
        for block in body["content"]:
            kind_of_block = block.get("type")
            if kind_of_block in ("thinking", "tool_use"):
                return True
            if kind_of_block == "text":
                text = block.get("text")
                if isinstance(text, str) and text:
                    return True
    return False


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise UpstreamError("bad_response", f"upstream answered non-JSON: {raw[:200]!r}") from None
    except RecursionError:
        raise UpstreamError("bad_response", "upstream answered JSON nested too deeply") from None


_RESET_HEADERS = (
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-reset",
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_wait(value: str) -> float | None:
    """Seconds in a rate-limit header: ``12``, ``1.5``, or OpenAI's durations (``6m0s``,
    ``20ms``)."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    if not _DURATION.fullmatch(value):
        return None
    return sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(value))


def _retry_after(response: UpstreamResponse) -> float | None:
    """How long the provider asks to wait: ``retry-after``, else the longest of the
    ``x-ratelimit-reset-*`` headers."""
    value = response.headers.get("retry-after")
    if value:
        return parse_wait(value)
    waits = [parse_wait(response.headers.get(name) or "") for name in _RESET_HEADERS]
    found = [w for w in waits if w is not None]
    return max(found) if found else None


class Upstream:
    """Sends encoded requests to providers and turns every failure into an
    :class:`UpstreamError`. ``builtin`` is the built-in client; without it, ``client``
    (httpx) carries the calls."""

    def __init__(self, client: httpx.AsyncClient, builtin: http1.Http1Client | None = None) -> None:
        self.client = client
        self.builtin = builtin
        self._targets: dict[str, tuple[httpx.URL, httpx.Timeout]] = {}
        self._endpoints: dict[str, http1.Endpoint] = {}
        self._limits: dict[tuple[str, str], CallLimits] = {}

    def limits(
        self, provider: ProviderConfig, profile: str, config: ProfileConfig | None
    ) -> CallLimits:
        """``provider``'s limits in ``profile`` (whose settings are ``config``), built once."""
        found = self._limits.get((profile, provider.name))
        if found is None or found.provider is not provider:
            found = self._limits[(profile, provider.name)] = CallLimits(provider, config)
        return found

    def _target(
        self, provider: ProviderConfig, limits: CallLimits
    ) -> tuple[httpx.URL, httpx.Timeout]:
        """The provider's parsed URL and timeouts, built once (URL parsing is a large share
        of a request's CPU)."""
        found = self._targets.get(provider.name)
        if found is not None and found[1].read != provider.timeout_s:
            found = None
        if found is None:
            timeout = httpx.Timeout(
                limits.deadlines.timeout_s,
                connect=provider.connect_timeout_s,
                pool=provider.connect_timeout_s,
            )
            found = self._targets[provider.name] = (httpx.URL(endpoint_of(provider)), timeout)
        return found

    def _endpoint(self, provider: ProviderConfig) -> http1.Endpoint:
        found = self._endpoints.get(provider.name)
        if found is None:
            found = self._endpoints[provider.name] = http1.Endpoint(endpoint_of(provider))
        return found

    async def open(
        self,
        provider: ProviderConfig,
        body: bytes,
        client_headers: Mapping[str, str],
        *,
        stream: bool,
        limits: CallLimits | None = None,
    ) -> UpstreamResponse:
        """Send the request and return the open response (status < 400); the caller reads and
        closes it. ``limits``: the provider's own when not given."""
        headers = headers_for(provider, client_headers, stream)
        limits = limits or self.limits(provider, "", None)
        response: UpstreamResponse
        if self.builtin is not None:
            response = await self._send_builtin(self.builtin, provider, body, headers, limits)
        else:
            response = await self._send_httpx(provider, body, headers, limits)
        if response.status_code >= 400:
            raise await self._status_error(provider, response)
        return response

    async def _send_builtin(
        self,
        client: http1.Http1Client,
        provider: ProviderConfig,
        body: bytes,
        headers: dict[str, str],
        limits: CallLimits,
    ) -> http1.Response:
        try:
            return await client.post(
                self._endpoint(provider),
                headers,
                body,
                timeout=limits.deadlines.timeout_s,
                connect_timeout=provider.connect_timeout_s,
                limits=limits.http1,
            )
        except (http1.ConnectError, http1.ConnectTimeout) as exc:
            raise UpstreamError("connect", str(exc)) from exc
        except http1.Timeout as exc:
            raise UpstreamError("timeout", str(exc)) from exc
        except http1.InvalidRequest as exc:
            # This provider's settings (a header, its key) are at fault, not the request.
            raise UpstreamError("internal", str(exc)) from exc
        except http1.ClientError as exc:
            raise UpstreamError("bad_response", str(exc)) from exc

    async def _send_httpx(
        self, provider: ProviderConfig, body: bytes, headers: dict[str, str], limits: CallLimits
    ) -> httpx.Response:
        url, timeout = self._target(provider, limits)
        request = self.client.build_request(
            "POST", url, content=body, headers=headers, timeout=timeout
        )
        first_byte = limits.deadlines.first_byte_timeout_s
        try:
            async with asyncio.timeout(first_byte):
                response = await self.client.send(request, stream=True)
        except TimeoutError:
            message = f"the response head did not arrive within {first_byte:g} s"
            raise UpstreamError("timeout", f"{message} (first_byte_timeout_s)") from None
        except _TRANSPORT_ERRORS as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError):
                reason = http1.os_reason(cause.os_error)
                message = f"cannot connect to {cause.host}:{cause.port}: {reason}"
                raise UpstreamError("connect", message) from exc
            if isinstance(exc, httpx.TimeoutException):
                raise UpstreamError("timeout", _describe(exc) or "timed out") from exc
            raise UpstreamError("connect", _describe(exc)) from exc
        # What the built-in client checks as bytes arrive, checked here as they are read.
        response.extensions["coderouter_limits"] = limits
        response.extensions["coderouter_deadline"] = (
            asyncio.get_running_loop().time() + limits.deadlines.total_timeout_s
        )
        return response

    async def _status_error(
        self, provider: ProviderConfig, response: UpstreamResponse
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
        overflow = status in (400, 413, 422) and is_context_overflow(f"{message}\n{text}")
        return UpstreamError(
            "status",
            message or response.reason_phrase or f"HTTP {status}",
            status=status,
            retryable=overflow or is_retryable_status(status),
            body=text,
            retry_after_s=_retry_after(response),
            context_overflow=overflow,
        )

    async def read_json(
        self, response: UpstreamResponse, kind: str = ""
    ) -> tuple[bytes, dict[str, Any]]:
        """The whole body, raw and parsed (the raw bytes serve same-format answers as is),
        with the shape of provider ``kind``'s answers when ``kind`` is given."""
        try:
            if isinstance(response, http1.Response):
                raw = await response.aread()
            else:
                raw = b"".join([chunk async for chunk in self.iter_bytes(response)])
        except UpstreamError:
            raise
        except _TIMEOUTS as exc:
            raise UpstreamError("timeout", str(exc) or "timed out reading the response") from exc
        except http1.TooLarge as exc:
            raise UpstreamError("bad_response", str(exc)) from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError("stream_cut", _describe(exc)) from exc
        finally:
            await response.aclose()
        body = _parse_json(raw)
        if not isinstance(body, dict):
            raise UpstreamError("bad_response", "upstream answered JSON that is not an object")
        problem = shape_problem(kind, body)
        if problem:
            raise UpstreamError("bad_response", f"not a {kind} answer: {problem}")
        return raw, body

    async def iter_bytes(self, response: UpstreamResponse) -> AsyncIterator[bytes]:
        """The body as it arrives; transport failures become ``stream_cut`` errors, a
        response over its limits ``bad_response``, a deadline ``timeout``."""
        try:
            if isinstance(response, http1.Response):
                async for chunk in response.aiter_bytes():
                    yield chunk
            else:
                async for chunk in _bounded(response):
                    yield chunk
        except _TIMEOUTS as exc:
            raise UpstreamError("timeout", str(exc) or "timed out waiting for the stream") from exc
        except http1.TooLarge as exc:
            raise UpstreamError("bad_response", str(exc)) from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError("stream_cut", _describe(exc) or "connection lost") from exc


async def _bounded(response: UpstreamResponse) -> AsyncIterator[bytes]:
    """An httpx response's body within its :class:`CallLimits`: the size cap on the decoded
    bytes, the total deadline on each read."""
    extensions = getattr(response, "extensions", {})
    limits: CallLimits | None = extensions.get("coderouter_limits")
    if limits is None:
        async for chunk in response.aiter_bytes():
            yield chunk
        return
    deadline: float = extensions["coderouter_deadline"]
    chunks = response.aiter_bytes().__aiter__()
    room = limits.max_response_bytes
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            total = limits.deadlines.total_timeout_s
            raise http1.TotalTimeout(
                f"the response did not end within {total:g} s (total_timeout_s)"
            ) from None
        room -= len(chunk)
        if room < 0:
            limit = limits.max_response_bytes
            raise http1.TooLarge(f"response body over max_response_bytes ({limit})", limit)
        yield chunk


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
