"""Test support for CodeRouter and its plugins.

The fixtures live in :mod:`coderouter.testing.plugin` (a pytest plugin, registered under
``pytest11``); the helpers they build on are importable from here:

* :class:`FakeUpstream` — a real HTTP server on loopback answering from a script: JSON, SSE with
  delays, error statuses, dropped connections, streams cut in the middle. It records every
  request it received.
* :class:`RawUpstream` — a TCP server on loopback whose script writes the exact bytes of each
  response (malformed heads, hostile framing, resets), recording every request it read;
  :func:`raw_response` builds a well-formed response to start from.
* bodies (:mod:`coderouter.testing.bodies`): upstream answers as providers write them
  (:func:`chat_completion`, :func:`anthropic_stream`, ...) and request parts that routing tests
  send (:data:`READ_TOOL`, :func:`anthropic_image`, :func:`anthropic_image_question`,
  :func:`chat_image_question`, :func:`anthropic_tool_image_turns`, :func:`chat_tool`).
* :func:`chat_headers` — the response headers of one Chat request through an openai SDK client
  (a streamed answer read to its end first); :func:`answered_by`, the provider that answered
  one and the fallback header.
* :class:`RedisServer` — a real ``redis-server`` on a free loopback port with a temp dir
  (:func:`ensure_redis_server` installs Debian's package when it is missing); ``stop()`` and
  ``start()`` take it away and bring it back on the same port.
* several hosts (:mod:`coderouter.testing.fleet`): :class:`StoreHost`, a Redis state store
  with its own fake clock standing for one host, and :func:`run_hosts`, which starts and stops
  them around a test's body; :func:`fleet_hosts` starts ``coderouter serve`` hosts on one
  Redis; :func:`until` (async) and :func:`wait_until` wait for what travels between them.
* :class:`ConfigBuilder` — build a :class:`~coderouter.config.Config` or write it as TOML.
* :class:`RouterProcess` — ``coderouter serve`` as a subprocess on a free port.
* plugin unit tests (:mod:`coderouter.testing.harness`): :class:`FakeClock` for a plugin's
  ``clock=``; :func:`start_plugin` registers a plugin in a plugin manager and runs ``startup``
  with that clock, returning the records it logs; :func:`bare_request`, :func:`attempt_at` and
  :func:`filtered_chain` are the records its hooks get (a request, an attempt, a chain after
  ``filter_chain``); :func:`config_error` is the
  :class:`~coderouter.config.ConfigError` a bad ``[plugins.<name>]`` setting raises;
  :func:`readme_config` lays a README's TOML example over a :class:`ConfigBuilder` config;
  :func:`assert_settings_documented` and :func:`assert_readme_example_loads` check a plugin's
  README against its ``Config``.
* :class:`~coderouter.testing.llama.LlamaServer` — a real llama.cpp server
  (llama-cpp-python with Gemma 3 270M) as a process; built once into a cache outside the clone
  (:mod:`coderouter.testing.llama`).
* fixtures: ``fake_upstream``, ``fake_upstreams`` (a factory), ``raw_upstreams`` (a factory),
  ``config_builder``, ``redis_server``, ``plugin_manager`` (fresh, nothing auto-loaded),
  ``router_process``
  (a factory), ``app_client`` (a factory for in-process Falcon test clients), ``llama_server``
  (session-scoped factory: ``llama_server(n_ctx=2048)`` returns a running
  :class:`~coderouter.testing.llama.LlamaServer`, one per ``n_ctx``; its ``base_url`` is what a
  provider's ``base_url`` is set to and it serves the model
  :data:`~coderouter.testing.llama.MODEL_ALIAS`).
* :mod:`coderouter.testing.agents` — the real ``claude`` and ``codex`` from npm, installed
  once into a cache outside the clone (the session-scoped ``client_bin`` fixture is the folder
  holding them), and ``client_env``, the offline environment they run in (scratch home,
  telemetry off, a dead proxy for anything beyond the loopback).
* the ``real_backend`` marker: tests that use ``llama_server`` carry it, so
  ``-m "not real_backend"`` skips them. When a selected test carries it, the llama.cpp
  environment is built (first run: minutes) before the first test starts.
"""

from coderouter.testing.bodies import (
    READ_TOOL,
    anthropic_image,
    anthropic_image_question,
    anthropic_message,
    anthropic_stream,
    anthropic_tool_image_turns,
    chat_completion,
    chat_image_question,
    chat_stream,
    chat_tool,
    responses_body,
    responses_stream,
)
from coderouter.testing.clients import answered_by, chat_headers
from coderouter.testing.fleet import StoreHost, fleet_hosts, run_hosts, until, wait_until
from coderouter.testing.harness import (
    FakeClock,
    assert_readme_example_loads,
    assert_settings_documented,
    attempt_at,
    bare_request,
    config_error,
    filtered_chain,
    readme_config,
    start_plugin,
)
from coderouter.testing.raw import RawPeer, RawUpstream, raw_response
from coderouter.testing.redis_server import RedisServer, ensure_redis_server
from coderouter.testing.router import ConfigBuilder, RouterProcess
from coderouter.testing.upstream import Answer, FakeUpstream, RecordedRequest, free_port

__all__ = [
    "READ_TOOL",
    "Answer",
    "ConfigBuilder",
    "FakeClock",
    "FakeUpstream",
    "RawPeer",
    "RawUpstream",
    "RecordedRequest",
    "RedisServer",
    "RouterProcess",
    "StoreHost",
    "answered_by",
    "anthropic_image",
    "anthropic_image_question",
    "anthropic_message",
    "anthropic_stream",
    "anthropic_tool_image_turns",
    "assert_readme_example_loads",
    "assert_settings_documented",
    "attempt_at",
    "bare_request",
    "chat_completion",
    "chat_headers",
    "chat_image_question",
    "chat_stream",
    "chat_tool",
    "config_error",
    "ensure_redis_server",
    "filtered_chain",
    "fleet_hosts",
    "free_port",
    "raw_response",
    "readme_config",
    "responses_body",
    "responses_stream",
    "run_hosts",
    "start_plugin",
    "until",
    "wait_until",
]
