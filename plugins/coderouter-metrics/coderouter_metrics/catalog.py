"""Every metric the plugin exports: name, kind, help text and label names.

Counters and histograms are kept per worker and summed across workers at scrape time; gauges
are computed when scraped.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["COUNTERS", "GAUGES", "HISTOGRAMS", "MetricDef"]

Kind = Literal["counter", "histogram", "gauge"]


@attrs.frozen
class MetricDef:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    buckets: str = ""  # which configured bucket list a histogram uses: "latency" or "overhead"


REQUESTS = MetricDef(
    "coderouter_requests_total",
    "counter",
    "Client requests, one per request, by the provider that answered (empty when none did), "
    "outcome (success, rejected, failed, stream_error, client_closed) and ingress key name.",
    ("ingress", "profile", "provider", "outcome", "key"),
)
ATTEMPTS = MetricDef(
    "coderouter_attempts_total",
    "counter",
    "Provider attempts, one per upstream call, by outcome (success, failed, failed_after_commit).",
    ("ingress", "profile", "provider", "outcome"),
)
UPSTREAM_ERRORS = MetricDef(
    "coderouter_upstream_errors_total",
    "counter",
    "Failed attempts by error kind (connect, timeout, status, stream_cut, bad_response) and "
    "HTTP status (empty when there was none).",
    ("profile", "provider", "kind", "status"),
)
FALLBACKS = MetricDef(
    "coderouter_fallbacks_total",
    "counter",
    "Failed attempts after which the router went on to the next provider, by reason.",
    ("profile", "provider", "reason"),
)
SKIPS = MetricDef(
    "coderouter_chain_skips_total",
    "counter",
    "Providers passed over without a call (paid gate, budget, health, ...), by reason.",
    ("profile", "provider", "reason"),
)
MOVES = MetricDef(
    "coderouter_chain_moves_total",
    "counter",
    "Providers moved back in a request's chain by a plugin, by reason and plugin.",
    ("profile", "provider", "reason", "by"),
)
STREAM_ERRORS = MetricDef(
    "coderouter_stream_errors_total",
    "counter",
    "Streams that failed after the first content reached the client.",
    ("profile", "provider"),
)
RESUMES = MetricDef(
    "coderouter_resumes_total",
    "counter",
    "Streams that broke after the first content, by what became of them: resumed (another "
    "provider continued the answer), closed (nothing was missing), not_resumable, failed.",
    ("outcome",),
)
TOKENS = MetricDef(
    "coderouter_tokens_total",
    "counter",
    "Tokens of answered requests by class (input, output, cache_read, cache_write, reasoning).",
    ("profile", "provider", "class"),
)
COST = MetricDef(
    "coderouter_cost_usd_total",
    "counter",
    "Spend in US dollars, as logged by a cost plugin, by ingress key name too.",
    ("profile", "provider", "key"),
)
SAVINGS = MetricDef(
    "coderouter_cache_savings_usd_total",
    "counter",
    "US dollars saved by prompt caching, as logged by a cost plugin.",
    ("profile", "provider", "key"),
)
EVENTS = MetricDef(
    "coderouter_events_total",
    "counter",
    "Structured log records by event kind (request, and events plugins emit).",
    ("event",),
)

REQUEST_DURATION = MetricDef(
    "coderouter_request_duration_seconds",
    "histogram",
    "Whole request time inside the router, every attempt included.",
    ("ingress", "profile"),
    buckets="latency",
)
UPSTREAM_LATENCY = MetricDef(
    "coderouter_upstream_latency_seconds",
    "histogram",
    "Time of the attempt that answered, from the upstream call to its last byte.",
    ("profile", "provider"),
    buckets="latency",
)
TTFT = MetricDef(
    "coderouter_ttft_seconds",
    "histogram",
    "Time to first token of streamed answers.",
    ("profile", "provider"),
    buckets="latency",
)
OVERHEAD = MetricDef(
    "coderouter_router_overhead_seconds",
    "histogram",
    "Request time not spent in the answering attempt (routing, plugins, failed attempts).",
    ("ingress",),
    buckets="overhead",
)

WORKERS = MetricDef(
    "coderouter_workers", "gauge", "Worker processes whose metrics are included in this scrape.", ()
)
SERVING = MetricDef(
    "coderouter_provider_serving",
    "gauge",
    "1 for the provider that answered the latest request of each profile.",
    ("profile", "provider"),
)
HEALTH = MetricDef(
    "coderouter_provider_health",
    "gauge",
    "1 for the health state a plugin reports for a provider, per worker process.",
    ("plugin", "provider", "state", "worker"),
)
COOLDOWN = MetricDef(
    "coderouter_provider_cooldown_seconds",
    "gauge",
    "Cooldown a plugin reports for a provider, per worker process.",
    ("plugin", "provider", "worker"),
)
PLUGIN_STATE = MetricDef(
    "coderouter_plugin_state",
    "gauge",
    "Numeric values from plugins' described state, by key path, per worker process.",
    ("plugin", "key", "worker"),
)

COUNTERS = (
    REQUESTS,
    ATTEMPTS,
    UPSTREAM_ERRORS,
    FALLBACKS,
    SKIPS,
    MOVES,
    STREAM_ERRORS,
    RESUMES,
    TOKENS,
    COST,
    SAVINGS,
    EVENTS,
)
HISTOGRAMS = (REQUEST_DURATION, UPSTREAM_LATENCY, TTFT, OVERHEAD)
GAUGES = (WORKERS, SERVING, HEALTH, COOLDOWN, PLUGIN_STATE)
