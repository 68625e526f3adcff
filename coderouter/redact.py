"""Secrets never leave the router: every configured key value, and anything shaped like a
common provider key, is replaced by ``[redacted]`` in text that goes out.

Upstream error bodies sometimes echo the key they were sent (``invalid x-api-key sk-ant-...``);
that text reaches the client's error body, ``x-coderouter-fallback``, the log, the event log and
the metrics plugin. :class:`~coderouter.types.UpstreamError` redacts its message and body when
it is made, and :class:`~coderouter.log.RequestLog` redacts every record it writes, so each of
those sees redacted text.

The known values are the process's keys (provider ``api_key_env``, the provider ``headers``
that carry credentials, and ingress keys): :func:`remember` adds them when an app is built.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "REDACTED",
    "credential_values",
    "install_log_redaction",
    "redact",
    "redact_record",
    "remember",
]

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8
"""Shorter values are not redacted by value (``abc`` would blank every word containing it);
the patterns below still catch real key shapes."""

_KEY_SHAPES = (
    r"sk-ant-[A-Za-z0-9_\-]{8,}",  # Anthropic
    r"sk-(?:proj-|svcacct-|or-v1-)?[A-Za-z0-9_\-]{20,}",  # OpenAI, OpenRouter
    r"AIza[0-9A-Za-z_\-]{30,}",  # Google
    r"gsk_[A-Za-z0-9]{20,}",  # Groq
    r"xai-[A-Za-z0-9]{20,}",  # xAI
    r"hf_[A-Za-z0-9]{20,}",  # Hugging Face
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/\-]{16,}=*",  # any bearer token
)
_SHAPES = re.compile("|".join(_KEY_SHAPES))
_MARKERS = (
    "sk-",
    "AIza",
    "gsk_",
    "xai-",
    "hf_",
    "hp_",
    "ho_",
    "hu_",
    "hs_",
    "hr_",
    "AKIA",
    "earer ",
)
"""A substring every shape contains: text holding none (almost every log line) skips the
regular expression, which costs ten times the scans."""
SHORT_TEXT_CHARS = 256
"""Texts up to this length have their answer remembered: a request's log record is mostly the
same short names (profile, provider, model, outcome) on every request."""
_CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "password", "cookie", "signature")
"""A header whose name holds one of these carries a credential (``authorization``,
``x-goog-api-key``, ``api-key``, ``x-auth-token``); other values (``anthropic-version:
2023-06-01``) are not secret and redacting them would garble error text."""
_known: set[str] = set()
_values: re.Pattern[str] | None = None


def remember(secrets: Iterable[str]) -> None:
    """Add key values to redact by value (surrounding whitespace ignored)."""
    global _values
    added = {s.strip() for s in secrets if len(s.strip()) >= MIN_SECRET_CHARS} - _known
    if not added:
        return
    _known.update(added)
    # Longest first, so a key that contains another is replaced whole.
    ordered = sorted(_known, key=len, reverse=True)
    _values = re.compile("|".join(re.escape(s) for s in ordered))
    _redact_short.cache_clear()


def credential_values(headers: dict[str, str]) -> list[str]:
    """The values of ``headers`` that carry a credential, each also without its scheme
    (``Bearer abc`` gives ``Bearer abc`` and ``abc``), for :func:`remember`."""
    values = []
    for name, value in headers.items():
        if any(word in name.lower() for word in _CREDENTIAL_WORDS):
            values.append(value)
            scheme, _, credential = value.strip().partition(" ")
            if credential and scheme.isalpha():
                values.append(credential)
    return values


def redact(text: str) -> str:
    """``text`` with every known key value and key-shaped token replaced by ``[redacted]``."""
    if not text:
        return text
    if len(text) <= SHORT_TEXT_CHARS:
        return _redact_short(text)
    return _redact(text)


def _redact(text: str) -> str:
    if _values is not None and any(value in text for value in _known):
        text = _values.sub(REDACTED, text)
    if any(marker in text for marker in _MARKERS):
        text = _SHAPES.sub(REDACTED, text)
    return text


# Bounded, and emptied whenever a key is added, so an answer never outlives the keys it knew.
_redact_short = functools.lru_cache(maxsize=4096)(_redact)


_formatter = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Redacts a log record's message and traceback: an exception from a plugin or the router
    may quote a key (``invalid key sk-...``)."""
    message = record.getMessage()
    redacted = redact(message)
    if redacted != message:
        record.msg, record.args = redacted, ()
    if record.exc_info and not record.exc_text:
        # Formatters use exc_text when it is set, so the traceback is written redacted.
        record.exc_text = redact(_formatter.formatException(record.exc_info))


def install_log_redaction() -> None:
    """Every log record of this process is redacted as it is made, whichever logger makes it.

    A filter on the ``coderouter`` logger would miss its children (``coderouter.metrics``, a
    plugin's own logger): Python applies a logger's filters only to records logged on that
    logger itself, not to those its children pass up. Installing twice changes nothing."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts", False):
        return

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        # A bad format string is the handler's to report, as it is without redaction.
        with contextlib.suppress(Exception):
            redact_record(record)
        return record

    redacting_factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)
