"""Records that cross the hook boundary.

Plugins receive and return these; they never see Falcon objects or raw sockets. Everything here
is plain data with small helper methods, so a plugin can be unit-tested by building records by
hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from coderouter.redact import redact
from coderouter.wire import turns
from coderouter.wire.model import Usage
from coderouter.wire.turns import ToolResult

if TYPE_CHECKING:
    from coderouter.config import ProviderConfig
    from coderouter.wire.model import Event, Request

__all__ = [
    "Attempt",
    "Capabilities",
    "Chain",
    "ChainMove",
    "ChainSkip",
    "Draft",
    "Ingress",
    "Reject",
    "RequestView",
    "Result",
    "Skip",
    "StreamTransform",
    "ToolResult",
    "UpstreamError",
    "Usage",
]

Ingress = Literal["openai_chat", "anthropic", "openai_responses"]


@attrs.define(slots=True)
class RequestView:
    """The client's request, as every plugin sees it.

    ``body`` is the decoded JSON exactly as the client sent it, in the ingress wire format. Use
    :meth:`conversation` for a format-independent view (system, messages, tools); it is decoded
    on first use and cached, so requests nobody inspects pay nothing for it. A guard usually
    needs less: :meth:`last_user_text`, :meth:`last_tool_results` and :meth:`tool_names` read
    it the same way whatever the ingress format.

    ``request_id`` is the id the client gets in ``x-request-id`` and the request log line
    carries as ``id``; put it in the events a plugin emits about this request.

    ``key_name`` is the ``name`` of the ingress key (``[[server.keys]]``) the client sent,
    ``"default"`` for a key of ``server.api_keys_env``, and ``""`` when the router takes no keys.
    It is a configured name, never the key, so it is safe in logs and metric labels.

    ``checked``: the body passed its format's ``validate_request`` (the router's requests
    did, at the ingress), so :meth:`conversation` does not check it again.
    """

    ingress: Ingress
    body: dict[str, Any]
    headers: Mapping[str, str]
    path: str = ""
    profile: str = ""
    request_id: str = ""
    key_name: str = ""
    checked: bool = False
    _conversation: Request | None = attrs.field(default=None, alias="_conversation")
    _tokens: int | None = attrs.field(default=None, alias="_tokens")

    @property
    def model(self) -> str:
        value = self.body.get("model")
        return value if isinstance(value, str) else ""

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def conversation(self) -> Request:
        """The request in the internal (Anthropic-shaped) message model."""
        if self._conversation is None:
            from coderouter.wire import decode_request

            self._conversation = decode_request(self.ingress, self.body, checked=self.checked)
        return self._conversation

    def estimated_tokens(self) -> int:
        """Estimated input tokens (system, messages, tool definitions), computed once per
        request and shared by every plugin that asks."""
        if self._tokens is None:
            from coderouter.wire.tokens import SHARED_COUNTER

            self._tokens = SHARED_COUNTER(self.conversation())
        return self._tokens

    def last_user_text(self) -> str:
        """The text of the last user message that has any (a message carrying only tool
        results is the client, not the user); ``""`` when there is none."""
        return turns.last_user_text(self.conversation())

    def last_tool_results(self) -> list[ToolResult]:
        """The tool results the client sends back with this turn (``tool_use_id``, the tool's
        ``name``, ``text``, ``is_error``), in order; empty when the turn has none."""
        return turns.last_tool_results(self.conversation())

    def tool_names(self) -> list[str]:
        """The names of the tools the client declares for this request, in its order."""
        return turns.tool_names(self.conversation())


@attrs.define(slots=True)
class Draft:
    """The request while plugins may still change it (``prepare_request``).

    Plugins edit in place: ``add_system_note`` appends an instruction the model sees; ``meta`` is
    free-form data later hooks can read (``attempt.draft.meta``).
    """

    request: RequestView
    notes: list[str] = attrs.Factory(list)
    meta: dict[str, Any] = attrs.Factory(dict)

    def add_system_note(self, text: str) -> None:
        self.notes.append(text)


@attrs.define(slots=True, frozen=True)
class ChainSkip:
    provider: str
    reason: str
    by: str


@attrs.define(slots=True, frozen=True)
class ChainMove:
    provider: str
    reason: str
    by: str


@attrs.define(slots=True)
class Chain:
    """The ordered providers one request will try.

    ``filter_chain`` plugins edit it in place and every edit is recorded with its reason, so the
    502 summary, the fallback header and the request log can say why the chain looks as it does.
    """

    profile: str
    providers: list[ProviderConfig]
    skipped: list[ChainSkip] = attrs.Factory(list)
    moves: list[ChainMove] = attrs.Factory(list)

    def names(self) -> list[str]:
        return [p.name for p in self.providers]

    def __iter__(self) -> Iterator[ProviderConfig]:
        return iter(list(self.providers))

    def __len__(self) -> int:
        return len(self.providers)

    def _index(self, provider: str) -> int:
        for i, p in enumerate(self.providers):
            if p.name == provider:
                return i
        return -1

    def skip(self, provider: str, reason: str, *, by: str = "") -> bool:
        """Remove ``provider`` from this request's chain; False when it was not in it."""
        i = self._index(provider)
        if i < 0:
            return False
        del self.providers[i]
        self.skipped.append(ChainSkip(provider, reason, by))
        return True

    def demote(self, provider: str, reason: str, *, by: str = "") -> bool:
        """Move ``provider`` to the end of the chain."""
        i = self._index(provider)
        if i < 0 or i == len(self.providers) - 1:
            return False
        self.providers.append(self.providers.pop(i))
        self.moves.append(ChainMove(provider, reason, by))
        return True

    def move_back(self, provider: str, reason: str, *, places: int = 1, by: str = "") -> bool:
        """Move ``provider`` ``places`` positions towards the end."""
        i = self._index(provider)
        if i < 0 or i == len(self.providers) - 1 or places < 1:
            return False
        target = min(i + places, len(self.providers) - 1)
        self.providers.insert(target, self.providers.pop(i))
        self.moves.append(ChainMove(provider, reason, by))
        return True

    def prefer(
        self, predicate: Callable[[ProviderConfig], bool], reason: str, *, by: str = ""
    ) -> list[str]:
        """Stable partition: providers matching ``predicate`` first, the rest after, in order.

        Returns the names of providers that moved back (each recorded with ``reason``).
        """
        first = [p for p in self.providers if predicate(p)]
        if not first or len(first) == len(self.providers):
            return []
        rest = [p for p in self.providers if not predicate(p)]
        reordered = first + rest
        moved_back = [p.name for p in rest if reordered.index(p) > self.providers.index(p)]
        self.providers[:] = reordered
        for name in moved_back:
            self.moves.append(ChainMove(name, reason, by))
        return moved_back


@attrs.define(slots=True, frozen=True)
class Skip:
    """Returned by ``before_attempt`` to pass over the provider for this request."""

    reason: str


@attrs.define(slots=True, frozen=True)
class Reject:
    """Returned by ``prepare_request`` or ``before_attempt`` to answer without any upstream.

    ``error_type`` is a wire-neutral kind: ``invalid_request`` (400), ``rate_limit`` (429),
    ``overloaded`` (529), ``budget`` (429 in every wire format); the host encodes it in the
    client's wire format.
    """

    message: str
    status: int = 400
    error_type: str = "invalid_request"
    retry_after_s: float | None = None


@attrs.define(slots=True)
class Capabilities:
    """What a provider's model can do. ``None`` means unknown (not gated)."""

    tools: bool | None = None
    vision: bool | None = None
    thinking: bool | None = None
    cache_control: bool | None = None
    max_context_tokens: int | None = None
    max_output_tokens: int | None = None
    reasoning_field: str | None = None
    thinking_switch: str | None = None
    forced_tool_choice: bool | None = None
    agent_suitability: Literal["ok", "degraded"] | None = None
    sources: dict[str, str] = attrs.Factory(dict)


@attrs.define(slots=True)
class Attempt:
    """One provider tried for one request. The same object reaches ``before_attempt``,
    ``stream_transforms``, ``after_attempt`` and ``on_failure``.

    ``scratch`` is per-attempt plugin data (key it by plugin name). ``response_headers`` and
    ``log_fields`` may be added to by any hook; headers are sent only if the response has not
    started yet (non-stream responses always; streams only before commit).
    """

    draft: Draft
    provider: ProviderConfig
    index: int
    profile: str
    clock: Callable[[], float] = time.monotonic
    started_at: float = 0.0
    first_token_at: float | None = None
    committed: bool = False
    max_tokens: int | None = None
    scratch: dict[str, Any] = attrs.Factory(dict)
    response_headers: dict[str, str] = attrs.Factory(dict)
    log_fields: dict[str, Any] = attrs.Factory(dict)

    @property
    def request(self) -> RequestView:
        return self.draft.request

    @property
    def stream(self) -> bool:
        return self.draft.request.stream

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started_at

    @property
    def ttft_s(self) -> float | None:
        if self.first_token_at is None:
            return None
        return self.first_token_at - self.started_at


@attrs.define(slots=True)
class Result:
    """A finished successful attempt (streams: at their end, usage aggregated)."""

    status: int
    usage: Usage
    stop_reason: str | None
    latency_s: float
    ttft_s: float | None
    model: str = ""


ErrorKind = Literal[
    "connect", "timeout", "status", "stream_cut", "bad_response", "empty_response", "internal"
]


@attrs.define(slots=True)
class UpstreamError(Exception):
    """Why an attempt failed. ``retryable`` decides whether the chain moves on.

    ``empty_response``: a 200 with no text and no tool call. ``context_overflow``: the upstream
    said the prompt does not fit its context (retryable: another provider may have more)."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retryable: bool = True
    body: str = ""
    committed: bool = False
    retry_after_s: float | None = None
    usage: Usage | None = None
    """What the stream had reported when it failed after commit (the upstream may bill it)."""
    context_overflow: bool = False

    def __attrs_post_init__(self) -> None:
        # Upstream error text may echo the key it was sent; everything downstream of here
        # (client error bodies, headers, hooks, logs) sees it redacted.
        self.message = redact(self.message)
        self.body = redact(self.body)

    def __str__(self) -> str:
        if self.status is not None:
            return f"{self.kind} {self.status}: {self.message}"
        return f"{self.kind}: {self.message}"

    def summary(self) -> str:
        """Short form for headers and the 502 body."""
        if self.status is not None:
            return f"HTTP {self.status}"
        return self.kind


class StreamTransform(Protocol):
    """A small synchronous rewriter of internal stream events, one per attempt.

    ``feed`` receives every event in order and returns the events to pass on (possibly none,
    possibly several); ``flush`` is called once at the end and returns what was held back.
    Non-stream responses run through the same transforms as one event sequence.
    """

    def feed(self, event: Event) -> list[Event]: ...

    def flush(self) -> list[Event]: ...
