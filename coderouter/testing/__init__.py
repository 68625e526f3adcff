"""Test support for CodeRouter and its plugins.

The fixtures live in :mod:`coderouter.testing.plugin` (a pytest plugin, registered under
``pytest11``); the helpers they build on are importable from here:

* :class:`FakeUpstream` — a real HTTP server on loopback answering from a script: JSON, SSE with
  delays, error statuses, dropped connections, streams cut in the middle. It records every
  request it received.
* :class:`RawUpstream` — a TCP server on loopback whose script writes the exact bytes of each
  response (malformed heads, hostile framing, resets), recording every request it read;
  :func:`raw_response` builds a well-formed response to start from.
* :class:`ConfigBuilder` — build a :class:`~coderouter.config.Config` or write it as TOML.
* :class:`RouterProcess` — ``coderouter serve`` as a subprocess on a free port.
* fixtures: ``fake_upstream``, ``fake_upstreams`` (a factory), ``raw_upstreams`` (a factory),
  ``config_builder``, ``plugin_manager`` (fresh, nothing auto-loaded), ``router_process``
  (a factory), ``app_client`` (a factory for in-process Falcon test clients).
"""

from coderouter.testing.bodies import (
    anthropic_message,
    anthropic_stream,
    chat_completion,
    chat_stream,
    responses_body,
    responses_stream,
)
from coderouter.testing.raw import RawPeer, RawUpstream, raw_response
from coderouter.testing.router import ConfigBuilder, RouterProcess
from coderouter.testing.upstream import Answer, FakeUpstream, RecordedRequest, free_port

__all__ = [
    "Answer",
    "ConfigBuilder",
    "FakeUpstream",
    "RawPeer",
    "RawUpstream",
    "RecordedRequest",
    "RouterProcess",
    "anthropic_message",
    "anthropic_stream",
    "chat_completion",
    "chat_stream",
    "free_port",
    "raw_response",
    "responses_body",
    "responses_stream",
]
