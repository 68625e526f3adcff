"""Wire formats: one module per format, converting to and from :mod:`coderouter.wire.model`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coderouter.wire.base import WireFormat
    from coderouter.wire.model import Request

__all__ = ["PROVIDER_WIRE", "decode_request", "wire_format"]

WIRE_FORMATS = ("openai_chat", "anthropic", "openai_responses")

PROVIDER_WIRE = {
    "openai": "openai_chat",
    "anthropic": "anthropic",
    "openai_responses": "openai_responses",
}
"""The wire format each provider ``kind`` speaks."""

_FORMATS: dict[str, WireFormat] = {}


def wire_format(name: str) -> WireFormat:
    """The wire-format implementation called ``name`` (imported on first use)."""
    found = _FORMATS.get(name)
    if found is not None:
        return found
    if name not in WIRE_FORMATS:
        raise KeyError(f"unknown wire format {name!r} (known: {', '.join(WIRE_FORMATS)})")
    module = importlib.import_module(f"coderouter.wire.{name}")
    implementation: WireFormat = module.FORMAT
    _FORMATS[name] = implementation
    return implementation


def decode_request(name: str, body: dict[str, Any], *, checked: bool = False) -> Request:
    return wire_format(name).decode_request(body, checked=checked)
