"""The attempt loop: one for every ingress, stream or not.

profile -> prepare_request -> resolve_chain -> paid gate -> filter_chain -> for each provider:
before_attempt, upstream call, transforms, after_attempt / on_failure. The ingress only chooses
the wire format that decodes the request and encodes the answer.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Mapping
from typing import Any

import attrs
import httpx
import pluggy

from coderouter.chains import Cooldowns, apply_paid_gate, default_chain
from coderouter.config import Config, ProviderConfig
from coderouter.hookcalls import HookCalls
from coderouter.http1 import Http1Client
from coderouter.log import RequestLog
from coderouter.resume import (
    SentLog,
    Stitcher,
    ToolHolder,
    continuation_request,
    estimated_usage,
    plan_resume,
    primed_encoder,
    read_sent,
    sum_usage,
)
from coderouter.streaming import (
    Pipeline,
    collect_transforms,
    flush_transforms,
    is_commit_event,
    run_transforms,
    transforms_pass,
)
from coderouter.types import (
    Attempt,
    Chain,
    Draft,
    Ingress,
    Reject,
    RequestView,
    Result,
    Skip,
    UpstreamError,
    Usage,
)
from coderouter.upstream import CallLimits, Upstream, UpstreamResponse, plainly_has_content
from coderouter.wire import PROVIDER_WIRE, wire_format
from coderouter.wire.base import ERROR_STATUS, PassthroughEdits, WireFormat, error_type_for_status
from coderouter.wire.check import text_problem
from coderouter.wire.edits import append_system_prompt, deep_merge, emulate_forced_tool_choice
from coderouter.wire.effort import ThinkingSupport
from coderouter.wire.model import (
    Event,
    MessageDelta,
    MessageStop,
    Request,
    Response,
    accumulate,
)

__all__ = ["Reply", "Router", "StreamReply"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
JSON = "application/json"
SSE = "text/event-stream"


@attrs.define(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@attrs.define(slots=True)
class StreamReply:
    status: int
    headers: dict[str, str]
    chunks: AsyncIterator[bytes]


Outcome = Reply | StreamReply
Segment = tuple[Pipeline, list[bytes], AsyncIterator[bytes] | None, UpstreamResponse]
"""One provider's stream, read up to its commit: pipeline, bytes so far, the rest, response."""


PROFILE_HOOKS = frozenset(
    {
        "prepare_request",
        "resolve_chain",
        "filter_chain",
        "before_attempt",
        "admit_attempt",
        "release_attempt",
        "stream_transforms",
        "after_attempt",
        "on_failure",
    }
)
"""The hooks called for a request once its profile is chosen: a plugin turned off for a
profile is called for none of them."""


class ProfileError(ValueError):
    """The request names no profile it may use: 400, or 403 (``status``) when the profile
    exists but the client's key may not use it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class BodyError(ValueError):
    """The client's body cannot be sent on (a lone surrogate, nesting too deep to encode): a
    400, never a provider failure."""


def _encode(body: dict[str, Any], client_body: dict[str, Any]) -> bytes:
    try:
        return _dumps(body).encode()
    except (UnicodeEncodeError, RecursionError):
        raise BodyError(text_problem(client_body)) from None


@attrs.define(slots=True)
class Trace:
    """What happened to one client request, for headers, the 502 body and the log line."""

    id: str
    view: RequestView
    wire: WireFormat
    started_at: float
    profile: str = ""
    steps: list[dict[str, str]] = attrs.Factory(list)
    chain: Chain | None = None
    disconnected: asyncio.Event | None = None
    resumes: list[dict[str, Any]] = attrs.Factory(list)
    cooldown_wait_s: float | None = None

    def record(self, provider: str, outcome: str, reason: str, *, at: int | None = None) -> None:
        step = {"provider": provider, "outcome": outcome, "reason": reason}
        if at is None:
            self.steps.append(step)
        else:
            self.steps.insert(at, step)

    def passed_over(self) -> str:
        """``name=reason; ...`` for the providers passed over (header-safe)."""
        parts = [f"{s['provider']}={s['outcome']}: {s['reason']}" for s in self.steps]
        if self.chain is not None:
            parts += [f"{m.provider}=moved: {m.reason}" for m in self.chain.moves]
        return _header_safe("; ".join(parts))[:1000]


def _request_id() -> str:
    """16 hex digits. Request ids need to be unique, not unguessable, so they come from the
    process's random generator (reseeded in every forked worker) without a system call."""
    return f"{random.getrandbits(64):016x}"


def cut_reason(pipeline: Pipeline) -> str:
    err = pipeline.error
    return f"{err.summary()}: {err.message}"[:300] if err is not None else ""


def _empty_response() -> UpstreamError:
    """A 200 with no text and no tool call: coding agents take it for a finished turn that did
    nothing, so it fails the attempt (before anything reached the client) and the chain moves
    on."""
    return UpstreamError("empty_response", "upstream answered with no text and no tool call")


_MALFORMED = (TypeError, ValueError, AttributeError, KeyError, IndexError)
"""What decoding raises on an answer of the right shape with a field of the wrong type
(``"prompt_tokens": [1]``, ``"function": 7``)."""


def _decoded(target: WireFormat, data: dict[str, Any]) -> list[Event]:
    """The upstream's answer as events; a malformed one fails the attempt like any other bad
    response (before anything reached the client), so the chain moves on."""
    try:
        return target.decode_response(data)
    except _MALFORMED as exc:
        raise UpstreamError("bad_response", f"malformed answer: {exc}") from None


def _usage_of(target: WireFormat, data: dict[str, Any]) -> Usage:
    try:
        return target.usage_of(data)
    except _MALFORMED as exc:
        raise UpstreamError("bad_response", f"malformed usage: {exc}") from None


def _unchanged(folded: Response, decoded: list[Event]) -> bool:
    """The transforms left a same-format answer as it was (``folded``: what came out of them,
    accumulated): the upstream's own bytes go to the client then."""
    original = accumulate(decoded)
    return folded.content == original.content and folded.stop_reason == original.stop_reason


_HONEST_STATUSES = frozenset({401, 403, 404})


def _hint(provider: ProviderConfig, err: UpstreamError, requested: str) -> str:
    said = f"provider {provider.name!r} answered {err.status}: {err.message}"
    if err.status == 404:
        model = provider.model_for(requested)
        return f"{said} (model {model!r} is not pulled or not served there)"
    if not provider.api_key_env:
        return f"{said} (the provider has no api_key_env set in the config)"
    if not provider.api_key:
        return f"{said} ({provider.api_key_env} is not set)"
    return f"{said} (check the key in {provider.api_key_env})"


def _overflow_limit(message: str) -> int:
    found = re.search(r"> (\d+) maximum", message)
    return int(found.group(1)) if found else 0


def _header_safe(value: str) -> str:
    return value.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")


class Router:
    def __init__(
        self,
        config: Config,
        pm: pluggy.PluginManager,
        client: httpx.AsyncClient,
        *,
        builtin: Http1Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: RequestLog | None = None,
    ) -> None:
        self.config = config
        self.pm = pm
        self.upstream = Upstream(client, builtin)
        self.clock = clock
        self.log = log if log is not None else RequestLog(enabled=config.router.log_requests)
        self.hook = pm.hook
        self.calls = HookCalls(pm, idle=self._idle_hooks)
        self.cooldowns = Cooldowns(lambda: self.clock())
        self.key_profiles = {
            k.name: frozenset(k.profiles) for k in config.server.keys if k.profiles
        }

    def _idle_hooks(self, name: str, plugin: Any, profile: str) -> Collection[str]:
        """The hooks plugin ``name`` has no work for in ``profile``: every request hook when
        the profile's ``[profiles.<p>.plugins.<name>]`` says ``enabled = false``, else what
        the plugin's ``idle_hooks(profile)`` names."""
        settings = self.config.profiles.get(profile)
        if settings is not None and settings.plugins.get(name, {}).get("enabled") is False:
            return PROFILE_HOOKS
        idle = getattr(plugin, "idle_hooks", None)
        return idle(profile) if idle is not None else ()

    def _calls(self, attempt: Attempt) -> HookCalls:
        return self.calls.for_profile(attempt.profile)

    # --- profile -------------------------------------------------------------------------------

    def select_profile(self, view: RequestView) -> str:
        profiles = self.config.profiles
        known = ", ".join(profiles)
        named = view.body.get("profile")
        if named is not None:
            if not isinstance(named, str) or named not in profiles:
                raise ProfileError(
                    f"unknown profile {named!r} in body field 'profile' (known: {known})"
                )
            return named
        header = view.header("x-coderouter-profile")
        if header:
            if header not in profiles:
                raise ProfileError(
                    f"unknown profile {header!r} in header X-CodeRouter-Profile (known: {known})"
                )
            return header
        if view.model in profiles:
            return view.model
        mode = view.header("x-coderouter-mode")
        if mode:
            aliases = self.config.router.mode_aliases
            if mode not in aliases:
                raise ProfileError(
                    f"unknown mode {mode!r} in header X-CodeRouter-Mode "
                    f"(known: {', '.join(aliases) or 'none configured'})"
                )
            return aliases[mode]
        chosen = self.calls.first("select_profile", view)
        if chosen is not None:
            if chosen not in profiles:
                raise ProfileError(
                    f"a select_profile plugin chose unknown profile {chosen!r} (known: {known})"
                )
            return str(chosen)
        return self.config.router.default_profile

    # --- the loop ------------------------------------------------------------------------------

    async def handle(
        self,
        ingress: Ingress,
        body: dict[str, Any],
        headers: Mapping[str, str],
        path: str = "",
        *,
        disconnected: asyncio.Event | None = None,
        key_name: str = "",
    ) -> Outcome:
        """Answer one client request. ``disconnected`` is set when the client goes away
        (see :mod:`coderouter.disconnect`); a stream then stops reading its upstream.
        ``key_name`` names the ingress key the client sent (``RequestView.key_name``). ``body``
        has passed the ingress format's ``validate_request``."""
        wire = wire_format(ingress)
        request_id = _request_id()
        view = RequestView(
            ingress, body, headers, path, request_id=request_id, key_name=key_name, checked=True
        )
        trace = Trace(request_id, view, wire, self.clock(), disconnected=disconnected)
        try:
            trace.profile = view.profile = self._allowed_profile(view)
        except ProfileError as exc:
            trace.profile = view.profile
            error_type = "permission" if exc.status == 403 else "invalid_request"
            return self._error(trace, exc.status, error_type, str(exc))
        draft = Draft(view)
        calls = self.calls.for_profile(trace.profile)
        for verdict in calls.each("prepare_request", draft):
            if isinstance(verdict, Reject):
                return self._reject(trace, verdict)
        chain = calls.first("resolve_chain", view, trace.profile)
        if chain is None:
            chain = default_chain(self.config, trace.profile)
        trace.chain = chain
        apply_paid_gate(self.config, chain)
        profile_timeout = self.config.profiles[trace.profile].timeout_s
        if profile_timeout is not None:
            chain.providers[:] = [
                attrs.evolve(p, timeout_s=profile_timeout) for p in chain.providers
            ]
        trace.cooldown_wait_s = self.cooldowns.apply(chain)
        calls.each("filter_chain", view, chain)
        for skipped in chain.skipped:
            trace.record(skipped.provider, "skipped", skipped.reason)
        failures: list[tuple[ProviderConfig, UpstreamError]] = []
        for index, provider in enumerate(list(chain.providers)):
            attempt = Attempt(
                draft, provider, index, trace.profile, clock=self.clock, started_at=self.clock()
            )
            verdict, admitted = await self._verdict(attempt)
            if isinstance(verdict, Skip):
                trace.record(provider.name, "skipped", verdict.reason)
                continue
            if isinstance(verdict, Reject):
                trace.record(provider.name, "rejected", verdict.message[:300])
                return self._reject(trace, verdict)
            try:
                return await self._call(trace, attempt, admitted)
            except UpstreamError as err:
                self._calls(attempt).each("on_failure", attempt, err)
                self.cooldowns.note(provider.name, err)
                trace.record(provider.name, "failed", f"{err.summary()}: {err.message}"[:300])
                failures.append((provider, err))
                if not err.retryable:
                    return self._final(trace, provider, err)
        return self._exhausted(trace, failures)

    async def _verdict(self, attempt: Attempt) -> tuple[Skip | Reject | None, bool]:
        """``before_attempt``'s answer, then, when it lets the attempt go and some plugin
        implements it, the awaited ``admit_attempt``'s; and whether the attempt was admitted
        (it then ends in ``after_attempt``, ``on_failure`` or ``release_attempt``)."""
        calls = self._calls(attempt)
        verdict = calls.first("before_attempt", attempt)
        if verdict is not None or not calls.implemented("admit_attempt"):
            return verdict, False
        try:
            verdict = await calls.first_awaited("admit_attempt", attempt)
        except BaseException:
            calls.each("release_attempt", attempt)
            raise
        if isinstance(verdict, (Skip, Reject)):
            calls.each("release_attempt", attempt)
            return verdict, False
        return None, True

    async def _call(self, trace: Trace, attempt: Attempt, admitted: bool) -> Outcome:
        """Call the attempt's provider. An :class:`UpstreamError` goes to the loop; anything
        else ends an admitted attempt with ``release_attempt``."""
        try:
            if trace.view.stream:
                return await self._stream(trace, attempt)
            return await self._once(trace, attempt)
        except UpstreamError:
            raise
        except BodyError as exc:
            if admitted:
                self._calls(attempt).each("release_attempt", attempt)
            return self._error(trace, 400, "invalid_request", str(exc))
        except BaseException:
            if admitted:
                self._calls(attempt).each("release_attempt", attempt)
            raise

    def _allowed_profile(self, view: RequestView) -> str:
        """The request's profile; refused (403) when the client's key (``server.keys``) may
        not use it."""
        profile = self.select_profile(view)
        allowed = self.key_profiles.get(view.key_name) if self.key_profiles else None
        if allowed is not None and profile not in allowed:
            view.profile = profile
            raise ProfileError(
                f"key {view.key_name!r} may not use profile {profile!r} "
                f"(its profiles: {', '.join(sorted(allowed))})",
                status=403,
            )
        return profile

    # --- one attempt ---------------------------------------------------------------------------

    def _upstream_body(
        self, attempt: Attempt, target: WireFormat, conversation: Request | None = None
    ) -> bytes:
        """The attempt's upstream body: the client's own on a same-format pass-through, else
        ``conversation`` (the client's request in the internal model unless given: a
        continuation) encoded for ``target``."""
        view = attempt.request
        model = attempt.provider.model_for(view.model)
        if target.name == view.ingress and conversation is None:
            edits = PassthroughEdits(model, view.stream, attempt.draft.notes, attempt.max_tokens)
            body = target.passthrough_request(view.body, edits)
        else:
            conversation = conversation or view.conversation()
            request = attrs.evolve(conversation, dropped=dict(conversation.dropped))
            if attempt.draft.notes:
                request.system = [
                    *request.system,
                    {"type": "text", "text": "\n\n".join(attempt.draft.notes)},
                ]
            if attempt.max_tokens is not None and (
                request.max_tokens is None or request.max_tokens > attempt.max_tokens
            ):
                request.max_tokens = attempt.max_tokens
            body = target.encode_request(
                request,
                model=model,
                stream=view.stream,
                thinking=self._thinking_support(attempt.provider, request),
            )
            if request.dropped:
                attempt.log_fields["dropped"] = dict(request.dropped)
        if target.name == "openai_chat":
            body = self._emulated_tool_choice(attempt, body)
        return _encode(self._configured_edits(attempt, target.name, body), view.body)

    def _emulated_tool_choice(self, attempt: Attempt, body: dict[str, Any]) -> dict[str, Any]:
        """A Chat body that forces a tool call, for a provider whose capabilities say it ignores
        ``tool_choice`` (``forced_tool_choice = false``): the instruction and narrowed tools of
        :func:`emulate_forced_tool_choice`, counted in the log line's ``emulated``."""
        if body.get("tool_choice") in (None, "auto", "none"):
            return body
        caps = self.hook.capabilities_for(provider=attempt.provider)
        if caps is None or caps.forced_tool_choice is not False:
            return body
        emulated = emulate_forced_tool_choice(body)
        if emulated is None:
            return body
        counts = attempt.log_fields.setdefault("emulated", {})
        counts["tool_choice"] = counts.get("tool_choice", 0) + 1
        return emulated

    def _thinking_support(self, provider: ProviderConfig, request: Request) -> ThinkingSupport:
        """What ``provider``'s model can do with the request's thinking setting, from
        ``capabilities_for`` (asked only when the request has a setting)."""
        if request.thinking is None:
            return ThinkingSupport()
        caps = self.hook.capabilities_for(provider=provider)
        if caps is None:
            return ThinkingSupport()
        return ThinkingSupport(caps.thinking, caps.thinking_switch)

    def _configured_edits(
        self, attempt: Attempt, wire: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The profile's and the provider's ``append_system_prompt``, then the provider's
        ``extra_body``."""
        provider = attempt.provider
        profile = self.config.profiles.get(attempt.profile)
        texts = [
            profile.append_system_prompt if profile is not None else "",
            provider.append_system_prompt,
        ]
        text = "\n\n".join(t for t in texts if t)
        if text:
            body = append_system_prompt(wire, body, text)
        if provider.extra_body:
            body = deep_merge(body, provider.extra_body)
        return body

    def _limits(self, trace: Trace, attempt: Attempt) -> CallLimits:
        profile = trace.profile
        return self.upstream.limits(attempt.provider, profile, self.config.profiles.get(profile))

    async def _open(
        self,
        trace: Trace,
        attempt: Attempt,
        target: WireFormat,
        *,
        stream: bool,
        conversation: Request | None = None,
    ) -> UpstreamResponse:
        """Send the attempt's request. An Anthropic 400 about thinking signatures (blocks
        signed by another provider, echoed back by the client) is retried once on the same
        provider with the thinking blocks removed."""
        body = self._upstream_body(attempt, target, conversation)
        provider = attempt.provider
        headers = trace.view.headers
        limits = self._limits(trace, attempt)
        try:
            return await self.upstream.open(provider, body, headers, stream=stream, limits=limits)
        except UpstreamError as err:
            is_signature_error = getattr(target, "is_invalid_signature_error", None)
            if (
                err.status != 400
                or is_signature_error is None
                or not is_signature_error(400, err.message)
            ):
                raise
        attempt.log_fields["thinking_stripped"] = True
        stripped = target.strip_thinking(json.loads(body))  # type: ignore[attr-defined]
        return await self.upstream.open(
            provider, _dumps(stripped).encode(), headers, stream=stream, limits=limits
        )

    async def _once(self, trace: Trace, attempt: Attempt) -> Reply:
        provider = attempt.provider
        target = wire_format(PROVIDER_WIRE[provider.kind])
        response = await self._open(trace, attempt, target, stream=False)
        raw, data = await self.upstream.read_json(response, provider.kind)
        attempt.first_token_at = self.clock()
        transforms = collect_transforms(self._calls(attempt).each("stream_transforms", attempt))
        model = provider.model_for(trace.view.model)
        same = target.name == trace.wire.name
        if same and (not transforms or transforms_pass(transforms, raw)):
            # Relayed as it came: decoding it only to see that it is not empty costs more.
            if not plainly_has_content(provider.kind, data) and not any(
                is_commit_event(event) for event in _decoded(target, data)
            ):
                raise _empty_response()
            result = Result(200, _usage_of(target, data), None, attempt.elapsed_s, None, model)
        else:
            decoded = _decoded(target, data)
            if not any(is_commit_event(event) for event in decoded):
                raise _empty_response()
            events = run_transforms(transforms, decoded)
            events += flush_transforms(transforms)
            folded = accumulate(events)
            result = Result(200, folded.usage, folded.stop_reason, attempt.elapsed_s, None, model)
            if not same or not _unchanged(folded, decoded):
                out = trace.wire.encode_folded(folded, model=model, request_body=trace.view.body)
                keep = getattr(trace.wire, "keep_envelope", None)
                if same and keep is not None:
                    out = keep(data, out)
                raw = _dumps(out).encode()
        self._calls(attempt).each("after_attempt", attempt, result)
        headers = self._headers(trace, attempt, JSON)
        self._log(trace, attempt, 200, result)
        return Reply(200, headers, raw)

    async def _stream(self, trace: Trace, attempt: Attempt) -> StreamReply:
        target = wire_format(PROVIDER_WIRE[attempt.provider.kind])
        segment = await self._open_stream(trace, attempt, target)
        return self._stream_reply(trace, attempt, segment)

    async def _open_stream(
        self,
        trace: Trace,
        attempt: Attempt,
        target: WireFormat,
        *,
        conversation: Request | None = None,
        encoder: Stitcher | None = None,
    ) -> Segment:
        """Open a stream and read it up to its commit, within the first-token deadline."""
        first_token = self._limits(trace, attempt).deadlines.first_token_timeout_s
        try:
            async with asyncio.timeout(first_token):
                response = await self._open(
                    trace, attempt, target, stream=True, conversation=conversation
                )
                return await self._start_stream(trace, attempt, target, response, encoder)
        except TimeoutError:
            raise UpstreamError(
                "timeout", f"no content within {first_token:g} s (first_token_timeout_s)"
            ) from None

    def _resumable(self, trace: Trace, attempt: Attempt) -> bool:
        """Whether a break after commit may be continued: resume is on and the chain has
        another provider."""
        chain = trace.chain
        return (
            chain is not None
            and attempt.index + 1 < len(chain.providers)
            and self.config.resume_mode(trace.profile) != "off"
        )

    async def _start_stream(
        self,
        trace: Trace,
        attempt: Attempt,
        target: WireFormat,
        response: UpstreamResponse,
        encoder: Stitcher | None = None,
    ) -> Segment:
        """Read an opened stream up to its commit (before it, a failure raises and the chain
        moves on)."""
        provider = attempt.provider
        resumable = self._resumable(trace, attempt)
        holds = resumable and self.config.resume_mode(trace.profile) == "all"
        pipeline = Pipeline(
            source=target,
            target=trace.wire,
            transforms=collect_transforms(self._calls(attempt).each("stream_transforms", attempt)),
            request_body=trace.view.body,
            model=provider.model_for(trace.view.model),
            input_estimate=lambda: self._estimate(trace.view),
            encoder=encoder,
            holder=ToolHolder() if holds else None,
            max_event_bytes=self._limits(trace, attempt).max_sse_event_bytes,
        )
        pipeline.hold_errors = resumable
        if not response.headers.get("content-type", "").startswith(SSE):
            _, data = await self.upstream.read_json(response, provider.kind)
            decoded = _decoded(target, data)
            if not any(is_commit_event(event) for event in decoded):
                raise _empty_response()
            whole = [pipeline.push_events(decoded)]
            attempt.first_token_at = self.clock()
            return pipeline, whole, None, response
        chunks = self.upstream.iter_bytes(response).__aiter__()
        head: list[bytes] = []
        try:
            while not pipeline.committed:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    head.append(pipeline.finish())
                    break
                head.append(pipeline.push(chunk))
            # A continuation that ends properly with nothing to add says the answer it was
            # asked to continue was already complete.
            if not pipeline.content_frames and not (encoder and pipeline.decoder.complete):
                raise _empty_response()
        except BaseException:
            await response.aclose()
            raise
        attempt.first_token_at = self.clock()
        attempt.committed = True
        rest = None if pipeline.decoder.complete else chunks
        return pipeline, head, rest, response

    def _stream_reply(self, trace: Trace, attempt: Attempt, segment: Segment) -> StreamReply:
        headers = self._headers(trace, attempt, SSE)
        headers["cache-control"] = "no-cache"
        return StreamReply(200, headers, self._relay(trace, attempt, segment))

    async def _relay(
        self, trace: Trace, attempt: Attempt, segment: Segment
    ) -> AsyncIterator[bytes]:
        """Relay the stream. When it breaks after commit and the answer can be continued, the
        next provider's continuation is relayed on in the same client stream (see
        :mod:`coderouter.resume`); otherwise the client gets a clean error event."""
        pipeline, head, rest, response = segment
        status = 200
        gone = trace.disconnected
        sent = SentLog() if self._resumable(trace, attempt) else None
        earlier = Usage()
        sent_before = 0
        step_at: int | None = None
        try:
            while True:
                chunks = self._segment(pipeline, head, rest)
                try:
                    async for data in chunks:
                        if gone is not None and gone.is_set():
                            status = 499
                            attempt.log_fields["client_disconnected"] = True
                            break
                        if sent is not None:
                            sent.add(data)
                        yield data
                except UpstreamError as err:
                    err.committed = True
                    pipeline.error = err
                    pipeline.hold_errors = True
                finally:
                    await chunks.aclose()
                error = pipeline.error
                if error is None or status == 499:
                    break
                step_at = len(trace.steps)
                found = None
                if sent is not None and error.retryable:
                    found = await self._continue(
                        trace, attempt, pipeline, sent, earlier, sent_before
                    )
                if found is None:
                    if pipeline.hold_errors:
                        yield self._mid_stream_error(trace, attempt, error)
                    break
                outcome, cut_usage, sent_now = found
                if isinstance(outcome, bytes):
                    pipeline.error = None
                    pipeline.stop_reason = pipeline.stop_reason or "tool_use"
                    step_at = None
                    yield outcome
                    break
                error.usage = cut_usage
                earlier = sum_usage(earlier, error.usage)
                sent_before = sent_now
                await response.aclose()
                self._finish_stream(trace, attempt, pipeline, status, step_at=step_at, log=False)
                step_at = None
                attempt, (pipeline, head, rest, response) = outcome
                if not self._resumable(trace, attempt):
                    sent = None
        except BaseException:
            status = 499
            attempt.log_fields["client_disconnected"] = True
            raise
        finally:
            await response.aclose()
            self._finish_stream(trace, attempt, pipeline, status, step_at=step_at)

    async def _segment(
        self, pipeline: Pipeline, head: list[bytes], rest: AsyncIterator[bytes] | None
    ) -> AsyncGenerator[bytes, None]:
        """One provider's part of a stream: what was read up to the commit, then the rest."""
        for chunk in head:
            if chunk:
                yield chunk
        if rest is None or pipeline.error is not None:
            return
        async for chunk in rest:
            data = pipeline.push(chunk)
            if data:
                yield data
            if pipeline.error is not None:
                return
        tail = pipeline.finish()
        if tail:
            yield tail

    def _mid_stream_error(self, trace: Trace, attempt: Attempt, err: UpstreamError) -> bytes:
        return trace.wire.stream_error(
            error_type_for_status(err.status or 502) if err.kind == "status" else "api_error",
            f"upstream {attempt.provider.name} failed mid-stream: {err.message}",
        )

    async def _continue(
        self,
        trace: Trace,
        cut: Attempt,
        pipeline: Pipeline,
        sent: SentLog,
        earlier: Usage,
        sent_before: int,
    ) -> tuple[tuple[Attempt, Segment] | bytes, Usage, int] | None:
        """Continue a broken answer on the next provider that will: its attempt and stream,
        read up to its commit. Bytes instead when the answer only needed closing (it broke
        after a complete tool call). None when it cannot be continued. With either, the
        broken attempt's usage (output estimated from what it sent, ``sent_before``
        characters of the answer coming from earlier providers) and the characters sent."""
        report: dict[str, Any] = {"provider": cut.provider.name, "error": cut_reason(pipeline)}
        trace.resumes.append(report)
        if sent.overflowed:
            report["outcome"] = "not_resumable"
            report["why"] = "answer longer than the resume buffer"
            return None
        state = read_sent(trace.wire, sent)
        mode = self.config.resume_mode(trace.profile)
        opened = state.open_block
        report["cut_in"] = opened.kind if opened is not None else "between blocks"
        report["sent_chars"] = state.output_chars()
        plan = plan_resume(state, mode)
        model = cut.provider.model_for(trace.view.model)
        cut_usage = pipeline.usage
        if plan.action == "give_up":
            report["outcome"] = "not_resumable"
            report["why"] = plan.reason
            return None
        if plan.action == "close":
            report["outcome"] = "closed"
            encoder = primed_encoder(trace.wire, state, model=model, request_body=trace.view.body)
            end: list[Event] = [MessageStop()]
            if not state.message_ended:
                end.insert(0, MessageDelta("tool_use", sum_usage(earlier, cut_usage)))
            return encoder.encode(end), cut_usage, 0
        assert trace.chain is not None
        providers = trace.chain.providers
        cut_usage = estimated_usage(cut_usage, state.output_chars() - sent_before)
        base_usage = sum_usage(earlier, cut_usage)
        for index in range(cut.index + 1, len(providers)):
            provider = providers[index]
            attempt = Attempt(
                cut.draft, provider, index, trace.profile, clock=self.clock, started_at=self.clock()
            )
            verdict, admitted = await self._verdict(attempt)
            if isinstance(verdict, Skip):
                trace.record(provider.name, "skipped", verdict.reason)
                continue
            if isinstance(verdict, Reject):
                break
            target = wire_format(PROVIDER_WIRE[provider.kind])
            request = continuation_request(
                trace.view.conversation(), state, native_prefill=target.name == "anthropic"
            )
            stitcher = Stitcher(
                primed_encoder(trace.wire, state, model=model, request_body=trace.view.body),
                state,
                earlier=base_usage,
                report=report,
            )
            try:
                segment = await self._open_stream(
                    trace, attempt, target, conversation=request, encoder=stitcher
                )
            except UpstreamError as err:
                self._calls(attempt).each("on_failure", attempt, err)
                trace.record(provider.name, "failed", f"{err.summary()}: {err.message}"[:300])
                if not err.retryable:
                    break
                continue
            except BaseException:
                if admitted:
                    self._calls(attempt).each("release_attempt", attempt)
                raise
            report["outcome"] = "resumed"
            report["continued_by"] = provider.name
            return (attempt, segment), cut_usage, state.output_chars()
        report["outcome"] = "failed"
        return None

    def _finish_stream(
        self,
        trace: Trace,
        attempt: Attempt,
        pipeline: Pipeline,
        status: int,
        *,
        step_at: int | None = None,
        log: bool = True,
    ) -> None:
        """An attempt's stream is over: hooks, the attempt's step and (``log``) the request
        log line. A stream that broke and was continued (``log`` false) is a failed attempt
        whose step says so; the request's line comes when the continuation ends."""
        result = Result(
            status,
            pipeline.usage,
            pipeline.stop_reason,
            attempt.elapsed_s,
            attempt.ttft_s,
            pipeline.model,
        )
        if pipeline.usage_estimated:
            attempt.log_fields["usage_estimated"] = pipeline.usage_estimated
        if pipeline.error is not None:
            if pipeline.error.usage is None:
                pipeline.error.usage = pipeline.usage
            self._calls(attempt).each("on_failure", attempt, pipeline.error)
            outcome = "failed after commit" if log else "cut, resumed"
            trace.record(attempt.provider.name, outcome, pipeline.error.message[:300], at=step_at)
            status = 502
        else:
            self._calls(attempt).each("after_attempt", attempt, result)
        if log:
            self._log(trace, attempt, status, result)

    # --- answers -------------------------------------------------------------------------------

    def _headers(self, trace: Trace, attempt: Attempt | None, content_type: str) -> dict[str, str]:
        headers = {"content-type": content_type, "x-request-id": trace.id}
        if trace.profile:
            headers["x-coderouter-profile"] = trace.profile
        if attempt is not None:
            headers["x-coderouter-provider"] = attempt.provider.name
            for key, value in attempt.response_headers.items():
                headers[key] = _header_safe(value)
        passed = trace.passed_over()
        if passed:
            headers["x-coderouter-fallback"] = passed
        return headers

    def _error(
        self,
        trace: Trace,
        status: int,
        error_type: str,
        message: str,
        *,
        retry_after_s: float | None = None,
        extra: Any = None,
    ) -> Reply:
        body = trace.wire.error_body(error_type, message)
        if extra is not None:
            body["coderouter"] = extra
        headers = self._headers(trace, None, JSON)
        if retry_after_s is not None:
            headers["retry-after"] = str(max(1, round(retry_after_s)))
        self._log(trace, None, status, None, error=message)
        return Reply(status, headers, _dumps(body).encode())

    def _reject(self, trace: Trace, reject: Reject) -> Reply:
        status = reject.status or ERROR_STATUS.get(reject.error_type, 400)
        return self._error(
            trace,
            status,
            reject.error_type,
            reject.message,
            retry_after_s=reject.retry_after_s,
            extra={"attempts": trace.steps} if trace.steps else None,
        )

    def _final(self, trace: Trace, provider: ProviderConfig, err: UpstreamError) -> Reply:
        """A failure no other provider could mend: its status, in the client's format."""
        status = err.status or 502
        message = f"provider {provider.name!r} answered {status}: {err.message}"
        return self._error(
            trace, status, error_type_for_status(status), message, extra={"attempts": trace.steps}
        )

    def _overflow(self, trace: Trace, failures: list[UpstreamError]) -> Reply:
        """Every provider said the prompt does not fit: Claude Code's parseable ``prompt is too
        long`` (it compacts on that) or OpenAI's ``context_length_exceeded``, with the largest
        limit any provider named."""
        best = failures[0]
        message = best.message
        render = getattr(trace.wire, "context_overflow_message", None)
        if render is not None:
            rendered = [
                render(f.message, body=f.body, request_tokens=self._estimate(trace.view))
                for f in failures
            ]
            message = max((r for r in rendered if r), key=_overflow_limit, default=message)
        return self._error(trace, 400, "context_overflow", message, extra={"attempts": trace.steps})

    @staticmethod
    def _estimate(view: RequestView) -> int | None:
        try:
            return view.estimated_tokens()
        except ValueError:
            return None

    def _exhausted(
        self, trace: Trace, attempted: list[tuple[ProviderConfig, UpstreamError]]
    ) -> Reply:
        failures = [err for _, err in attempted]
        if failures and all(f.context_overflow for f in failures):
            return self._overflow(trace, failures)
        statuses = {f.status for f in failures}
        if len(statuses) == 1 and statuses <= _HONEST_STATUSES:
            return self._honest(trace, attempted)
        parts = [f"{s['provider']} {s['outcome']} ({s['reason']})" for s in trace.steps]
        if trace.chain is not None:
            parts += [f"{m.provider} moved ({m.reason})" for m in trace.chain.moves]
        if not parts:
            summary = f"profile {trace.profile!r} has no providers to try"
        else:
            summary = "no provider could answer: " + "; ".join(parts)
        if all(f.status == 429 for f in failures) and (failures or trace.cooldown_wait_s):
            waits = [f.retry_after_s for f in failures if f.retry_after_s is not None]
            if trace.cooldown_wait_s is not None:
                waits.append(trace.cooldown_wait_s)
            return self._error(
                trace,
                429,
                "rate_limit",
                summary,
                retry_after_s=min(waits) if waits else 1.0,
                extra={"attempts": trace.steps},
            )
        return self._error(trace, 502, "api_error", summary, extra={"attempts": trace.steps})

    def _honest(self, trace: Trace, attempted: list[tuple[ProviderConfig, UpstreamError]]) -> Reply:
        """Every attempt failed the same way and retrying cannot help (a key, a missing model):
        that status, with what to fix. A 502 would make coding agents retry for minutes."""
        status = attempted[0][1].status or 502
        hints = [_hint(provider, err, trace.view.model) for provider, err in attempted]
        return self._error(
            trace,
            status,
            error_type_for_status(status),
            "; ".join(hints),
            extra={"attempts": trace.steps},
        )

    def _log(
        self,
        trace: Trace,
        attempt: Attempt | None,
        status: int,
        result: Result | None,
        *,
        error: str = "",
    ) -> None:
        if not self.log.enabled and not self.log.listeners:
            return
        fields: dict[str, Any] = {
            "event": "request",
            "id": trace.id,
            "ingress": trace.view.ingress,
            "profile": trace.profile,
            "provider": attempt.provider.name if attempt is not None else None,
            "stream": trace.view.stream,
            "status": status,
            "latency_ms": round((self.clock() - trace.started_at) * 1000, 2),
            "attempts": trace.steps,
        }
        if trace.view.key_name:
            fields["key"] = trace.view.key_name
        if result is not None:
            usage = result.usage
            # Spelled out: attrs.asdict is generic and several times slower, once per request.
            fields["usage"] = {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
            }
            fields["upstream_ms"] = round(result.latency_s * 1000, 2)
            if result.ttft_s is not None:
                fields["ttft_ms"] = round(result.ttft_s * 1000, 2)
        if trace.chain is not None and trace.chain.moves:
            fields["moves"] = [
                {"provider": m.provider, "reason": m.reason, "by": m.by} for m in trace.chain.moves
            ]
        if error:
            fields["error"] = error
        if trace.resumes:
            fields["resumes"] = trace.resumes
        if attempt is not None:
            fields.update(attempt.log_fields)
        self.log.emit(fields)
