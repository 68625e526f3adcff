"""OpenAI Chat Completions: requests, responses, stream chunks and errors.

Spoken by the ``/v1/chat/completions`` ingress and by every ``kind = "openai"`` provider
(Ollama, llama.cpp, LM Studio, vLLM, OpenRouter, ...).

One module per stage:

* :mod:`~coderouter.wire.openai_chat.validate`: shape checks of client bodies.
* :mod:`~coderouter.wire.openai_chat.requests`: decoding of client bodies.
* :mod:`~coderouter.wire.openai_chat.requests_out`: encoding for a Chat upstream, and
  pass-through of a client's Chat body.
* :mod:`~coderouter.wire.openai_chat.responses`: whole completions and usage.
* :mod:`~coderouter.wire.openai_chat.stream_decode`: stream chunks into internal events.
* :mod:`~coderouter.wire.openai_chat.stream_encode`: internal events into stream chunks.
* :mod:`~coderouter.wire.openai_chat.errors`: error bodies.
* :mod:`~coderouter.wire.openai_chat.format`: the :class:`OpenAIChat` format object itself.
"""

from __future__ import annotations

from coderouter.wire.openai_chat.common import BILLING_HEADER_PREFIX as BILLING_HEADER_PREFIX
from coderouter.wire.openai_chat.common import new_id as new_id
from coderouter.wire.openai_chat.errors import ERROR_TYPES as ERROR_TYPES
from coderouter.wire.openai_chat.format import FORMAT, OpenAIChat
from coderouter.wire.openai_chat.responses import usage_from_openai, usage_to_openai
from coderouter.wire.openai_chat.stream_decode import ChatStreamDecoder
from coderouter.wire.openai_chat.stream_encode import ChatStreamEncoder

__all__ = [
    "FORMAT",
    "ChatStreamDecoder",
    "ChatStreamEncoder",
    "OpenAIChat",
    "usage_from_openai",
    "usage_to_openai",
]
