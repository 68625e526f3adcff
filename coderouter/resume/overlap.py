"""Where a continuation's text stops repeating what the client already has.

A model asked to continue a prefill often starts by repeating its last words. The longest
suffix of the sent tail that is also a prefix of the continuation is cut away. Whitespace does
not count while matching (models re-space what they repeat), and at the seam a whitespace run
the client already has is not sent twice.
"""

from __future__ import annotations

__all__ = ["MIN_OVERLAP", "OVERLAP_WINDOW", "Overlap", "may_grow", "strip_overlap"]

OVERLAP_WINDOW = 400
"""Characters of the sent tail compared; a repeat longer than this is not recognised."""

MIN_OVERLAP = 3
"""Non-whitespace characters a match needs (unless it is the whole sent tail): shorter matches
are as likely to be chance as repetition."""


def _compact(text: str) -> tuple[str, list[int]]:
    """``text`` without whitespace, and where each remaining character sits in ``text``."""
    kept: list[str] = []
    positions: list[int] = []
    for position, char in enumerate(text):
        if not char.isspace():
            kept.append(char)
            positions.append(position)
    return "".join(kept), positions


class Overlap:
    """The sent tail, compacted once, for every comparison with one continuation."""

    __slots__ = ("tail", "trailing_space")

    def __init__(self, sent: str) -> None:
        window = sent[-OVERLAP_WINDOW:]
        self.tail = _compact(window)[0]
        self.trailing_space = window[len(window.rstrip()) :]


def may_grow(overlap: Overlap, held: str) -> bool:
    """Whether more continuation text could still lengthen the overlap: only while everything
    held so far could be the start of a repeat of the tail."""
    compact = _compact(held)[0]
    return len(compact) < len(overlap.tail) and compact in overlap.tail


def strip_overlap(overlap: Overlap, continuation: str) -> tuple[str, int]:
    """``continuation`` without the part that repeats the sent tail, and how many characters
    of it were cut."""
    tail = overlap.tail
    head, positions = _compact(continuation)
    matched = 0
    for size in range(min(len(tail), len(head)), 0, -1):
        if tail.endswith(head[:size]):
            matched = size
            break
    if matched < min(MIN_OVERLAP, len(tail)):
        matched = 0
    cut = positions[matched - 1] + 1 if matched else 0
    rest = continuation[cut:]
    sent_space = overlap.trailing_space
    if sent_space:
        leading = rest[: len(rest) - len(rest.lstrip())]
        for size in range(min(len(leading), len(sent_space)), 0, -1):
            if sent_space.endswith(leading[:size]):
                cut += size
                rest = rest[size:]
                break
    return rest, cut
