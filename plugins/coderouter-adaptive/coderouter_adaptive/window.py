"""Rolling per-provider samples: outcome, and latency of successes.

Streams are measured by time to first token and whole responses by total latency; the two are
kept apart so a provider is only ever compared with its peers on the same measure.

Judging runs on every request, so each window also keeps a :class:`Tally` per configured span:
counts and sorted latencies updated as samples arrive and expire, never rescanned.
"""

from __future__ import annotations

import bisect
import statistics
from collections import deque
from collections.abc import Iterable
from typing import Literal

import attrs

__all__ = ["MAX_SAMPLES", "Measure", "Sample", "Stats", "Tally", "Window"]

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


class Tally:
    """The samples of the last ``span_s`` seconds, summed as they come and go: outcomes,
    errors and each measure's latencies in sorted order (a median is one index)."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self.samples: deque[Sample] = deque()
        self.outcomes = 0
        self.errors = 0
        self.latencies: dict[Measure, list[float]] = {"ttft": [], "latency": []}

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.outcomes += 1
        if not sample.ok:
            self.errors += 1
        elif sample.measure is not None and sample.seconds is not None:
            bisect.insort(self.latencies[sample.measure], sample.seconds)

    def drop_oldest(self) -> None:
        sample = self.samples.popleft()
        self.outcomes -= 1
        if not sample.ok:
            self.errors -= 1
        elif sample.measure is not None and sample.seconds is not None:
            ordered = self.latencies[sample.measure]
            del ordered[bisect.bisect_left(ordered, sample.seconds)]

    def expire(self, now: float) -> None:
        since = now - self.span_s
        samples = self.samples
        while samples and samples[0].at < since:
            self.drop_oldest()

    @property
    def error_rate(self) -> float:
        return self.errors / self.outcomes if self.outcomes else 0.0

    def count(self, measure: Measure) -> int:
        return len(self.latencies[measure])

    def median(self, measure: Measure) -> float | None:
        ordered = self.latencies[measure]
        n = len(ordered)
        if not n:
            return None
        half = n // 2
        return ordered[half] if n % 2 else (ordered[half - 1] + ordered[half]) / 2


class Window:
    """One provider's samples, oldest first, with a :class:`Tally` for each of ``spans``
    (the window lengths the plugin judges by)."""

    def __init__(self, maxlen: int = MAX_SAMPLES, spans: Iterable[float] = ()) -> None:
        self.samples: deque[Sample] = deque(maxlen=maxlen)
        self.tallies: dict[float, Tally] = {span: Tally(span) for span in spans}

    def add(self, sample: Sample) -> None:
        samples = self.samples
        if len(samples) == samples.maxlen:
            # The oldest sample leaves the window; a tally still holding it lets it go too.
            oldest = samples[0]
            for tally in self.tallies.values():
                if tally.samples and tally.samples[0] is oldest:
                    tally.drop_oldest()
        samples.append(sample)
        for tally in self.tallies.values():
            tally.add(sample)

    def tally(self, span_s: float, now: float) -> Tally:
        """The running tally of the last ``span_s`` seconds as of ``now``."""
        tally = self.tallies.get(span_s)
        if tally is None:
            tally = self.tallies[span_s] = Tally(span_s)
            for sample in self.samples:
                tally.add(sample)
        tally.expire(now)
        return tally

    def prune(self, now: float, keep_s: float) -> None:
        samples = self.samples
        since = now - keep_s
        if not samples or samples[0].at >= since:
            return
        while samples and samples[0].at < since:
            samples.popleft()
        for tally in self.tallies.values():
            tally.expire(now)

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
