"""Prometheus exposition of an :class:`~coderouter_metrics.shared.Aggregate`.

prometheus-client does the text formatting (escaping, float formats, OpenMetrics when the
scraper asks for it); the values come from the merged snapshots, not from its own registry, so
several workers add up without its multiprocess mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

from prometheus_client import utils
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from coderouter_metrics import catalog
from coderouter_metrics.shared import Aggregate
from coderouter_metrics.states import numeric_leaves, provider_states

__all__ = ["AggregateCollector", "render"]

MAX_STATE_VALUES = 100
_bound_text = cast(Callable[[float], str], utils.floatToGoString)


class AggregateCollector:
    """A prometheus-client collector over one aggregate (built per scrape)."""

    def __init__(self, agg: Aggregate, providers: set[str], own_plugin: str) -> None:
        self.agg = agg
        self.providers = providers
        self.own_plugin = own_plugin

    def collect(self) -> Iterator[Metric]:
        store = self.agg.store
        for metric in catalog.COUNTERS:
            counter = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            for labels, value in sorted(store.counters[metric.name].items()):
                counter.add_metric(labels, value)
            yield counter
        for metric in catalog.HISTOGRAMS:
            hist = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
            bounds = store.bounds[metric.name]
            for labels, series in sorted(store.histograms[metric.name].items()):
                cumulative = 0
                buckets: list[tuple[str, float]] = []
                for bound, count in zip(bounds, series.counts, strict=False):
                    cumulative += count
                    buckets.append((_bound_text(bound), cumulative))
                buckets.append(("+Inf", series.count))
                hist.add_metric(labels, buckets, series.total)
            yield hist
        yield from self._gauges()

    def _gauges(self) -> Iterator[Metric]:
        workers = GaugeMetricFamily(catalog.WORKERS.name, catalog.WORKERS.help)
        workers.add_metric([], sum(1 for w in self.agg.workers if w.alive))
        yield workers
        serving = GaugeMetricFamily(
            catalog.SERVING.name, catalog.SERVING.help, labels=catalog.SERVING.labels
        )
        for profile, last in sorted(self.agg.store.last_served.items()):
            serving.add_metric([profile, str(last.get("provider", ""))], 1)
        yield serving
        health = GaugeMetricFamily(
            catalog.HEALTH.name, catalog.HEALTH.help, labels=catalog.HEALTH.labels
        )
        cooldown = GaugeMetricFamily(
            catalog.COOLDOWN.name, catalog.COOLDOWN.help, labels=catalog.COOLDOWN.labels
        )
        values = GaugeMetricFamily(
            catalog.PLUGIN_STATE.name, catalog.PLUGIN_STATE.help, labels=catalog.PLUGIN_STATE.labels
        )
        for worker, states in sorted(self.agg.states.items()):
            for found in provider_states(states, self.providers, skip=self.own_plugin):
                if found.state is not None:
                    health.add_metric([found.plugin, found.provider, found.state, worker], 1)
                if found.cooldown_s is not None:
                    cooldown.add_metric([found.plugin, found.provider, worker], found.cooldown_s)
            for plugin, state in sorted(states.items()):
                if plugin == self.own_plugin:
                    continue
                for key, number in numeric_leaves(state, limit=MAX_STATE_VALUES):
                    values.add_metric([plugin, key, worker], number)
        yield health
        yield cooldown
        yield values


def render(
    agg: Aggregate, providers: set[str], own_plugin: str, accept: str | None
) -> tuple[bytes, str]:
    """The scrape body and its content type, in the format the scraper asked for."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(AggregateCollector(agg, providers, own_plugin)), content_type
