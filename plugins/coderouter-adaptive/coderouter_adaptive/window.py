"""Rolling per-provider samples: outcome, and latency of successes.

Streams are measured by time to first token and whole responses by total latency; the two are
kept apart so a provider is only ever compared with its peers on the same measure.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Literal

import attrs

__all__ = ["MAX_SAMPLES", "Measure", "Sample", "Stats", "Window"]

Measure = Literal["ttft", "latency"]

MAX_SAMPLES = 1000
"""Samples kept per provider at most; a busy provider's median needs no more than this."""


@attrs.define(slots=True)
class Sample:
    at: float
    ok: bool
    measure: Measure | None = None
    seconds: float | None = None


@attrs.define(slots=True)
class Stats:
    outcomes: int = 0
    errors: int = 0
    latencies: list[float] = attrs.Factory(list)

    @property
    def error_rate(self) -> float:
        return self.errors / self.outcomes if self.outcomes else 0.0

    def median(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None


class Window:
    """One provider's samples, oldest first."""

    def __init__(self, maxlen: int = MAX_SAMPLES) -> None:
        self.samples: deque[Sample] = deque(maxlen=maxlen)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def prune(self, now: float, keep_s: float) -> None:
        while self.samples and self.samples[0].at < now - keep_s:
            self.samples.popleft()

    def stats(self, now: float, window_s: float, measure: Measure) -> Stats:
        stats = Stats()
        since = now - window_s
        for sample in self.samples:
            if sample.at < since:
                continue
            stats.outcomes += 1
            if not sample.ok:
                stats.errors += 1
            elif sample.measure == measure and sample.seconds is not None:
                stats.latencies.append(sample.seconds)
        return stats
