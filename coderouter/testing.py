"""Test support for CodeRouter and its plugins (a pytest plugin, registered under ``pytest11``).

* :class:`FakeUpstream` — a real HTTP server on loopback answering from a script: JSON, SSE with
  delays, error statuses, dropped connections, streams cut in the middle. It records every
  request it received.
* :class:`ConfigBuilder` — build a :class:`~coderouter.config.Config` or write it as TOML.
* :class:`RouterProcess` — ``coderouter serve`` as a subprocess on a free port.
* fixtures: ``fake_upstream``, ``fake_upstreams`` (a factory), ``config_builder``,
  ``plugin_manager`` (fresh, nothing auto-loaded), ``router_process`` (a factory),
  ``app_client`` (a factory for in-process Falcon test clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest
from aiohttp import web

from coderouter.config import Config, parse_config

__all__ = [
    "Answer",
    "ConfigBuilder",
    "FakeUpstream",
    "RecordedRequest",
    "RouterProcess",
    "anthropic_message",
    "anthropic_stream",
    "chat_completion",
    "chat_stream",
    "free_port",
    "responses_body",
    "responses_stream",
]


# --- scripted answers ------------------------------------------------------------------------


@attrs.define
class Answer:
    """One scripted answer.

    ``kind``: ``json`` (``body`` with ``status``), ``sse`` (``frames`` each sent as is, with
    ``delay_s`` before each; ``cut_after`` closes the connection after that many frames),
    ``drop`` (close the connection without answering), ``hang`` (wait ``delay_s`` then answer
    ``body``).
    """

    kind: str = "json"
    status: int = 200
    body: Any = None
    frames: Sequence[bytes | str] = ()
    delay_s: float = 0.0
    first_delay_s: float = 0.0
    cut_after: int | None = None
    headers: dict[str, str] = attrs.Factory(dict)
    content_type: str = ""

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls("json", status=status, body=body, headers=headers or {})

    @classmethod
    def error(
        cls, status: int, message: str = "upstream error", headers: dict[str, str] | None = None
    ) -> Answer:
        return cls(
            "json",
            status=status,
            body={"error": {"message": message, "type": "error", "code": status}},
            headers=headers or {},
        )

    @classmethod
    def sse(
        cls,
        frames: Sequence[bytes | str],
        *,
        delay_s: float = 0.0,
        first_delay_s: float = 0.0,
        cut_after: int | None = None,
        content_type: str = "text/event-stream",
    ) -> Answer:
        return cls(
            "sse",
            frames=frames,
            delay_s=delay_s,
            first_delay_s=first_delay_s,
            cut_after=cut_after,
            content_type=content_type,
        )

    @classmethod
    def drop(cls) -> Answer:
        return cls("drop")

    @classmethod
    def hang(cls, seconds: float, body: Any = None) -> Answer:
        return cls("hang", delay_s=seconds, body=body)


@attrs.define
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def json(self) -> Any:
        return self.body


def _now_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def chat_completion(
    text: str = "hello",
    *,
    model: str = "fake-model",
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning: str | None = None,
) -> dict[str, Any]:
    """A Chat Completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": text if text else None}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": c.get("id", _now_id("call_")),
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for c in tool_calls
        ]
    return {
        "id": _now_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def chat_stream(
    pieces: Sequence[str] = ("Hel", "lo"),
    *,
    model: str = "fake-model",
    tool_calls: list[dict[str, Any]] | None = None,
    usage: bool = True,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning: Sequence[str] = (),
    done: bool = True,
    finish_reason: str | None = None,
) -> list[str]:
    """Chat Completions SSE frames: role chunk, content pieces, tool calls, finish, usage,
    ``[DONE]``."""
    cid = _now_id("chatcmpl-")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return (
            "data: "
            + json.dumps(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )
            + "\n\n"
        )

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"reasoning_content": r}) for r in reasoning]
    frames += [chunk({"content": p}) for p in pieces]
    for i, call in enumerate(tool_calls or []):
        args = json.dumps(call.get("arguments", {}))
        frames.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call.get("id", f"call_{i}"),
                            "type": "function",
                            "function": {"name": call["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        half = len(args) // 2
        for part in (args[:half], args[half:]):
            frames.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    frames.append(chunk({}, finish_reason or ("tool_calls" if tool_calls else "stop")))
    if usage:
        frames.append(
            "data: "
            + json.dumps(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                        "prompt_tokens_details": {"cached_tokens": cached_tokens},
                    },
                }
            )
            + "\n\n"
        )
    if done:
        frames.append("data: [DONE]\n\n")
    return frames


def anthropic_message(
    text: str = "hello",
    *,
    model: str = "claude-fake",
    tool_uses: list[dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """An Anthropic Messages response body."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in tool_uses or []:
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", _now_id("toolu_")),
                "name": call["name"],
                "input": call.get("input", {}),
            }
        )
    return {
        "id": _now_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


def anthropic_stream(
    pieces: Sequence[str] = ("Hel", "lo"),
    *,
    model: str = "claude-fake",
    tool_uses: list[dict[str, Any]] | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    stop: bool = True,
) -> list[str]:
    """Anthropic Messages SSE frames with ``event:`` lines."""

    def frame(event: str, data: dict[str, Any]) -> str:
        return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n"

    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 1,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }
    frames = [
        frame(
            "message_start",
            {
                "message": {
                    "id": _now_id("msg_"),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                }
            },
        ),
        frame("ping", {}),
    ]
    index = 0
    if pieces:
        frames.append(
            frame(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
        )
        frames += [
            frame("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}})
            for p in pieces
        ]
        frames.append(frame("content_block_stop", {"index": 0}))
        index = 1
    for call in tool_uses or []:
        frames.append(
            frame(
                "content_block_start",
                {
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": call.get("id", _now_id("toolu_")),
                        "name": call["name"],
                        "input": {},
                    },
                },
            )
        )
        frames.append(
            frame(
                "content_block_delta",
                {
                    "index": index,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": json.dumps(call.get("input", {})),
                    },
                },
            )
        )
        frames.append(frame("content_block_stop", {"index": index}))
        index += 1
    frames.append(
        frame(
            "message_delta",
            {
                "delta": {
                    "stop_reason": "tool_use" if tool_uses else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    if stop:
        frames.append(frame("message_stop", {}))
    return frames


def _responses_output(
    text: str, tool_calls: Sequence[dict[str, Any]], ids: dict[str, str]
) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if text:
        output.append(
            {
                "type": "message",
                "id": ids["message"],
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    for i, call in enumerate(tool_calls):
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{ids['response'][5:]}_{i}",
                "call_id": call.get("id", f"call_{i}"),
                "name": call["name"],
                "arguments": json.dumps(call.get("arguments", {})),
                "status": "completed",
            }
        )
    return output


def responses_body(
    text: str = "hello",
    *,
    model: str = "fake-model",
    tool_calls: Sequence[dict[str, Any]] = (),
    input_tokens: int = 10,
    output_tokens: int = 5,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    status: str = "completed",
) -> dict[str, Any]:
    """An OpenAI Responses response body, as the API returns it."""
    rid = _now_id("resp_")
    ids = {"response": rid, "message": _now_id("msg_")}
    body: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": _responses_output(text, tool_calls, ids),
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        },
    }
    if status == "incomplete":
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    return body


def responses_stream(
    pieces: Sequence[str] = ("Hel", "lo"),
    *,
    model: str = "fake-model",
    tool_calls: Sequence[dict[str, Any]] = (),
    input_tokens: int = 10,
    output_tokens: int = 5,
    cached_tokens: int = 0,
) -> list[str]:
    """OpenAI Responses SSE events, in the order the API sends them: created, in_progress,
    per output item added / part added / deltas / done, completed with the whole response."""
    final = responses_body(
        "".join(pieces),
        model=model,
        tool_calls=tool_calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
    )
    sequence = iter(range(10_000))

    def event(kind: str, data: dict[str, Any]) -> str:
        payload = {"type": kind, "sequence_number": next(sequence), **data}
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"

    started = {**final, "status": "in_progress", "output": [], "usage": None}
    frames = [
        event("response.created", {"response": started}),
        event("response.in_progress", {"response": started}),
    ]
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": []}
            frames.append(
                event(
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": {**item, "status": "in_progress", "content": []},
                    },
                )
            )
            frames.append(event("response.content_part.added", {**where, "part": empty}))
            frames += [
                event("response.output_text.delta", {**where, "delta": p, "logprobs": []})
                for p in pieces
            ]
            done = {**where, "text": text, "logprobs": []}
            frames.append(event("response.output_text.done", done))
            frames.append(
                event("response.content_part.done", {**where, "part": item["content"][0]})
            )
        else:
            args = item["arguments"]
            where = {"item_id": item["id"], "output_index": index}
            frames.append(
                event(
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": {**item, "status": "in_progress", "arguments": ""},
                    },
                )
            )
            half = len(args) // 2
            frames += [
                event("response.function_call_arguments.delta", {**where, "delta": part})
                for part in (args[:half], args[half:])
            ]
            frames.append(
                event("response.function_call_arguments.done", {**where, "arguments": args})
            )
        frames.append(event("response.output_item.done", {"output_index": index, "item": item}))
    frames.append(event("response.completed", {"response": final}))
    return frames


# --- the fake upstream server ----------------------------------------------------------------


class FakeUpstream:
    """A scriptable HTTP server on 127.0.0.1 in a background thread.

    Answers are taken from the queue set with :meth:`script` (per path or for every path);
    when the queue is empty :attr:`default` answers. Every request is kept in
    :attr:`requests`.
    """

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer.json(chat_completion())
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = free_port()
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *answers: Answer, path: str = "*") -> FakeUpstream:
        with self._lock:
            self._queues.setdefault(path, deque()).extend(answers)
        return self

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r.body for r in self.requests if path is None or r.path == path]

    @property
    def count(self) -> int:
        return len(self.requests)

    def _next(self, path: str) -> Answer:
        with self._lock:
            for key in (path, "*"):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        return self.default

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(request.path, dict(request.headers.items()), body))
        answer = self._next(request.path)
        if answer.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        if answer.kind == "hang":
            await asyncio.sleep(answer.delay_s)
            return web.json_response(answer.body or chat_completion())
        if answer.kind == "sse":
            return await self._sse(request, answer)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _sse(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(
            status=answer.status, headers={"content-type": answer.content_type, **answer.headers}
        )
        await response.prepare(request)
        if answer.first_delay_s:
            await asyncio.sleep(answer.first_delay_s)
        for sent, frame in enumerate(answer.frames):
            if answer.cut_after is not None and sent >= answer.cut_after:
                if request.transport is not None:
                    request.transport.abort()
                return response
            if answer.delay_s and sent:
                await asyncio.sleep(answer.delay_s)
            await response.write(frame.encode() if isinstance(frame, str) else frame)
        await response.write_eof()
        return response

    def close(self) -> None:
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            with contextlib.suppress(Exception):
                future.result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- config ----------------------------------------------------------------------------------


class ConfigBuilder:
    """Fluent builder for test configs.

    >>> cfg = (ConfigBuilder().provider("a", "http://127.0.0.1:9/v1")
    ...        .profile("default", ["a"]).build())
    """

    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            "server": {},
            "router": {},
            "plugins": {"enabled": []},
            "providers": [],
            "profiles": {},
        }

    def provider(
        self, name: str, base_url: str | FakeUpstream, *, kind: str = "openai", **settings: Any
    ) -> ConfigBuilder:
        url = base_url.url if isinstance(base_url, FakeUpstream) else base_url
        if isinstance(base_url, FakeUpstream) and kind in ("openai", "openai_responses"):
            url += "/v1"
        self.data["providers"].append({"name": name, "base_url": url, "kind": kind, **settings})
        return self

    def profile(self, name: str, providers: Sequence[str], **settings: Any) -> ConfigBuilder:
        self.data["profiles"][name] = {"providers": list(providers), **settings}
        if not self.data["router"].get("default_profile") and name == "default":
            self.data["router"]["default_profile"] = name
        return self

    def plugin(self, name: str, **settings: Any) -> ConfigBuilder:
        self.data["plugins"]["enabled"].append(name)
        if settings:
            self.data["plugins"][name] = settings
        return self

    def router(self, **settings: Any) -> ConfigBuilder:
        self.data["router"].update(settings)
        return self

    def server(self, **settings: Any) -> ConfigBuilder:
        self.data["server"].update(settings)
        return self

    def raw(self) -> dict[str, Any]:
        data = json.loads(json.dumps(self.data))
        if not data["router"].get("default_profile") and data["profiles"]:
            data["router"]["default_profile"] = next(iter(data["profiles"]))
        return dict(data)

    def build(self) -> Config:
        return parse_config(self.raw(), source="<test config>")

    def write(self, directory: str | os.PathLike[str] | None = None) -> Path:
        import tomli_w

        folder = Path(directory or tempfile.mkdtemp(prefix="coderouter-test-"))
        path = folder / "coderouter.toml"
        path.write_text(tomli_w.dumps(self.raw()), encoding="utf-8")
        return path


# --- the router as a process -----------------------------------------------------------------


class RouterProcess:
    """``coderouter serve`` in a subprocess on a free port; waits until ``/healthz`` answers.

    stderr (the startup line and the JSON request log) is captured to a file:
    :meth:`log_lines` reads it.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        port: int | None = None,
        startup_timeout_s: float = 20.0,
    ) -> None:
        self.port = port or free_port()
        self.config_path = str(config_path)
        self._stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix="coderouter-stderr-", suffix=".log", delete=False
        )
        full_env = dict(os.environ)
        full_env.pop("CODEROUTER_ALLOW_PAID", None)
        full_env.update(env or {})
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coderouter.cli",
                "serve",
                "--config",
                self.config_path,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=full_env,
        )
        self.ready_after_s = self._wait_ready(startup_timeout_s)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float) -> float:
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"coderouter serve exited with {self.process.returncode}:\n"
                    + self.stderr_text()
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return time.monotonic() - self.started_at
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("coderouter serve did not become ready:\n" + self.stderr_text())

    def stderr_text(self) -> str:
        return Path(self._stderr.name).read_text(encoding="utf-8", errors="replace")

    def log_lines(self, event: str | None = "request") -> list[dict[str, Any]]:
        """The JSON log records written so far (optionally only one ``event`` kind)."""
        out = []
        for line in self.stderr_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if event is None or record.get("event") == event:
                out.append(record)
        return out

    def wait_for_log(
        self, count: int, event: str = "request", timeout_s: float = 5.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.log_lines(event)
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def __enter__(self) -> RouterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- pytest fixtures -------------------------------------------------------------------------


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """One fake upstream server, closed after the test."""
    server = FakeUpstream()
    yield server
    server.close()


@pytest.fixture
def fake_upstreams() -> Iterator[Any]:
    """A factory: ``fake_upstreams()`` starts another fake upstream; all close after the
    test."""
    servers: list[FakeUpstream] = []

    def start(default: Answer | None = None) -> FakeUpstream:
        server = FakeUpstream(default)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def config_builder() -> ConfigBuilder:
    return ConfigBuilder()


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with the hook specs and core defaults, no plugins loaded."""
    from coderouter.plugins import new_plugin_manager

    return new_plugin_manager()


@pytest.fixture
def router_process(tmp_path: Path) -> Iterator[Any]:
    """A factory: ``router_process(builder_or_path, workers=1, env=None)`` starts
    ``coderouter serve``; every process is stopped after the test."""
    processes: list[RouterProcess] = []

    def start(config: ConfigBuilder | str | os.PathLike[str], **kwargs: Any) -> RouterProcess:
        path = config.write(tmp_path) if isinstance(config, ConfigBuilder) else config
        process = RouterProcess(path, **kwargs)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop(signal.SIGINT)


@pytest.fixture
def app_client() -> Any:
    """A factory: ``app_client(config, pm=None, transport=None, clock=...)`` returns a Falcon
    ``TestClient`` over a freshly built app (in process, lifespan included)."""
    import falcon.testing

    from coderouter.app import create_app

    def build(config: Config, **kwargs: Any) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(create_app(config, **kwargs))

    return build
