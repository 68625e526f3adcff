"""CodeRouter observability: Prometheus metrics at ``/metrics``, a JSON snapshot with recent
events at ``/metrics.json``, a live ``/dashboard`` page and an optional rotating event log."""

from coderouter_metrics.config import MetricsConfig
from coderouter_metrics.plugin import MetricsPlugin

__all__ = ["MetricsConfig", "MetricsPlugin"]
