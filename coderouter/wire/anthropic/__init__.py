"""Anthropic Messages: requests, responses, stream events and errors.

Spoken by the ``/v1/messages`` ingress (Claude Code, the Anthropic SDKs) and by every
``kind = "anthropic"`` provider. The internal model is Anthropic-shaped, so decoding mostly
normalises (string content becomes text blocks) and encoding mostly guards against what a real
Anthropic endpoint rejects: ``role: "system"`` messages without the mid-conversation beta,
consecutive turns of one role, a missing ``max_tokens``, tool ids outside ``[A-Za-z0-9_-]``,
empty text blocks, and thinking blocks it did not sign.

One module per stage:

* :mod:`~coderouter.wire.anthropic.validate`: shape checks of client bodies.
* :mod:`~coderouter.wire.anthropic.requests`: decoding of client bodies.
* :mod:`~coderouter.wire.anthropic.requests_out`: encoding for an Anthropic upstream, and
  pass-through of a client's Anthropic body.
* :mod:`~coderouter.wire.anthropic.thinking`: thinking blocks and their signatures (the rules
  for what is sent upstream, what reaches the client, and the retry after a signature error).
* :mod:`~coderouter.wire.anthropic.responses`: whole Messages and usage.
* :mod:`~coderouter.wire.anthropic.stream_decode`: stream events into internal events.
* :mod:`~coderouter.wire.anthropic.stream_encode`: internal events into stream events.
* :mod:`~coderouter.wire.anthropic.errors`: error bodies and the context-overflow message.
* :mod:`~coderouter.wire.anthropic.format`: the :class:`Anthropic` format object itself.
"""

from __future__ import annotations

from coderouter.wire.anthropic.common import new_id as new_id
from coderouter.wire.anthropic.errors import ERROR_TYPES as ERROR_TYPES
from coderouter.wire.anthropic.errors import ERROR_TYPES_IN as ERROR_TYPES_IN
from coderouter.wire.anthropic.errors import context_overflow_message
from coderouter.wire.anthropic.format import FORMAT, Anthropic
from coderouter.wire.anthropic.requests_out import DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS
from coderouter.wire.anthropic.responses import usage_from_anthropic, usage_to_anthropic
from coderouter.wire.anthropic.stream_decode import AnthropicStreamDecoder
from coderouter.wire.anthropic.stream_encode import AnthropicStreamEncoder
from coderouter.wire.anthropic.thinking import MIN_THINKING_BUDGET as MIN_THINKING_BUDGET
from coderouter.wire.anthropic.thinking import is_invalid_signature_error, strip_thinking

__all__ = [
    "FORMAT",
    "Anthropic",
    "AnthropicStreamDecoder",
    "AnthropicStreamEncoder",
    "context_overflow_message",
    "is_invalid_signature_error",
    "strip_thinking",
    "usage_from_anthropic",
    "usage_to_anthropic",
]
