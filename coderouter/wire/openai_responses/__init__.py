"""OpenAI Responses: requests, responses, stream events and errors.

Spoken by the ``/v1/responses`` ingress (codex, ``client.responses`` of the openai SDK) and by
every ``kind = "openai_responses"`` provider (OpenAI's Responses API).

Choices this package makes, and why:

* **Namespace tools** (``{"type": "namespace", "name": N, "tools": [...]}``) are flattened into
  plain functions named ``N__inner`` (underscores around the joint trimmed), the flat name codex
  itself uses where a boundary cannot keep the split. The name is unique even when two
  namespaces share an inner name, and a ``function_call`` input item carrying ``namespace``
  maps back to the same flat name with no table. On the way out the flat name is split again
  (table built from the request's ``tools``) into ``name`` + ``namespace``, because codex routes
  a call by the pair and rejects a namespaced tool called by its flat name. The table also rides
  in ``request.extras["openai_responses.tool_namespaces"]`` (flat name -> [namespace, name]).
* **Tools in input items**: ``additional_tools`` items carry tools (codex with its default
  model sends none in ``tools``); they count as the request's tools.
* **Free-form tools** (``custom``) become functions with one string argument ``input``; a call
  goes back to the client as a ``custom_tool_call`` item with the raw input, sent whole when
  the call is complete, and an echoed ``custom_tool_call`` decodes as a call with that argument.
* **Hosted tools** (``web_search``, ``file_search``, ``code_interpreter`` ...) have no
  equivalent elsewhere: they are dropped, logged and counted in ``request.dropped``.
* **Reasoning items** from OpenAI carry encrypted state only OpenAI can read: dropped on decode
  (counted as ``reasoning``). Thinking produced by other providers is sent to the client as a
  ``reasoning`` item whose summary is the thinking text; an Anthropic signature travels in
  ``encrypted_content`` behind :data:`SIGNATURE_PREFIX` (redacted thinking behind
  :data:`REDACTED_PREFIX`). codex echoes these items back, and decode turns them into thinking
  blocks again, which an Anthropic upstream needs in a tool loop with thinking on. Same-format
  pass-through strips them, as a real Responses upstream would reject them.
* **Reasoning effort** sets ``request.thinking = {"type": "enabled", "budget_tokens": N}`` with
  N from :data:`EFFORT_BUDGETS` (minimal/low 1024, medium 8192, high 24576, xhigh 32768);
  ``none`` sets ``{"type": "disabled"}`` and no effort leaves no setting. ``reasoning`` itself
  stays in extras.
* **Streams** always end with ``response.completed``, also when the answer was cut by the token
  limit (the response then has ``status: "incomplete"``): codex treats ``response.incomplete``
  as a failure and retries, and the SDK accumulator only finishes on ``response.completed``.
  Every item gets ``response.output_item.done`` (codex builds its state from those only).
  ``response.failed`` frames also carry the error at the top level, so the openai SDK raises
  ``APIError`` with the message instead of a bare "no response.completed".

One module per stage:

* :mod:`~coderouter.wire.openai_responses.validate`: shape checks of client bodies.
* :mod:`~coderouter.wire.openai_responses.requests`: decoding of client bodies.
* :mod:`~coderouter.wire.openai_responses.requests_out`: encoding for a Responses upstream, and
  pass-through of a client's Responses body.
* :mod:`~coderouter.wire.openai_responses.responses`: whole Response objects, output items and
  usage.
* :mod:`~coderouter.wire.openai_responses.stream_decode`: the stream decoder.
* :mod:`~coderouter.wire.openai_responses.stream_encode`: the stream encoder.
* :mod:`~coderouter.wire.openai_responses.errors`: error bodies and ``response.failed`` errors.
* :mod:`~coderouter.wire.openai_responses.format`: the :class:`OpenAIResponses` format object.
"""

from __future__ import annotations

from coderouter.wire.openai_responses.common import (
    EFFORT_BUDGETS,
    NAMESPACES_EXTRA,
    REDACTED_PREFIX,
    SIGNATURE_PREFIX,
    flat_tool_name,
    new_id,
    tool_namespaces,
)
from coderouter.wire.openai_responses.format import FORMAT, OpenAIResponses
from coderouter.wire.openai_responses.responses import usage_from_responses, usage_to_responses
from coderouter.wire.openai_responses.stream_decode import ResponsesStreamDecoder
from coderouter.wire.openai_responses.stream_encode import ResponsesStreamEncoder

__all__ = [
    "EFFORT_BUDGETS",
    "FORMAT",
    "NAMESPACES_EXTRA",
    "REDACTED_PREFIX",
    "SIGNATURE_PREFIX",
    "OpenAIResponses",
    "ResponsesStreamDecoder",
    "ResponsesStreamEncoder",
    "flat_tool_name",
    "new_id",
    "tool_namespaces",
    "usage_from_responses",
    "usage_to_responses",
]
