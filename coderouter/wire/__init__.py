"""Wire formats: one module per format, converting to and from :mod:`coderouter.wire.model`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coderouter.wire.base import WireFormat
    from coderouter.wire.model import Request

__all__ = ["PROVIDER_WIRE", "decode_request", "wire_format"]

PROVIDER_WIRE = {"openai": "openai_chat", "anthropic": "anthropic"}
"""The wire format each provider ``kind`` speaks."""

_FORMATS: dict[str, WireFormat] = {}


def wire_format(name: str) -> WireFormat:
    """The wire-format implementation called ``name`` (imported on first use)."""
    found = _FORMATS.get(name)
    if found is not None:
        return found
    if name == "openai_chat":
        from coderouter.wire.openai_chat import FORMAT
    elif name == "anthropic":
        from coderouter.wire.anthropic import FORMAT
    elif name == "openai_responses":
        from coderouter.wire.openai_responses import FORMAT
    else:
        raise KeyError(f"unknown wire format {name!r}")
    _FORMATS[name] = FORMAT
    return FORMAT


def decode_request(name: str, body: dict[str, Any]) -> Request:
    return wire_format(name).decode_request(body)
