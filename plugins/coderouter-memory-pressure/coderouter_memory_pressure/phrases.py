"""Recognising out-of-memory failures by the text local backends answer with.

Matching is on whole phrases, case-insensitive, so ordinary words never trip it: ``OOM`` counts
only as a token of its own right next to ``error`` or ``killed`` (``OOM error``, ``error: OOM``,
``OOMKilled``), never inside a word such as "room" or "bloom".
"""

from __future__ import annotations

import re

__all__ = ["PHRASES", "find_oom"]

PHRASES = (
    "CUDA out of memory",
    "out of memory",
    "failed to allocate",
    "insufficient memory",
    "model requires more system memory",
    "cudaMalloc failed",
    "ggml_backend_cuda_buffer_type_alloc_buffer: allocating",
    "not enough memory",
)


def _phrase_pattern(phrase: str) -> str:
    words = r"\s+".join(re.escape(word) for word in phrase.split())
    return rf"(?<![\w]){words}(?![\w])"


_PHRASE = re.compile("|".join(f"({_phrase_pattern(p)})" for p in PHRASES), re.IGNORECASE)
_SEP = r"[\s:_()\[\]-]{0,3}"
_OOM_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])(?:(?:error|killed){_SEP}OOM|OOM{_SEP}(?:error|killed))(?![A-Za-z0-9])",
    re.IGNORECASE,
)


def find_oom(*texts: str) -> str | None:
    """The out-of-memory phrase (one of :data:`PHRASES`, or ``"OOM"``) found in any of
    ``texts``, or ``None``."""
    for text in texts:
        if not text:
            continue
        found = _PHRASE.search(text)
        if found is not None and found.lastindex is not None:
            return PHRASES[found.lastindex - 1]
        if _OOM_TOKEN.search(text) is not None:
            return "OOM"
    return None
