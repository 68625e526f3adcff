"""Adaptive routing for CodeRouter: providers that are much slower than their chain peers, or
fail too often, move back one place, with changes debounced (``[plugins.adaptive]``)."""

from coderouter_adaptive.config import AdaptiveConfig
from coderouter_adaptive.plugin import AdaptivePlugin, Standing, move_back_all
from coderouter_adaptive.window import MAX_SAMPLES, Sample, Stats, Window

__all__ = [
    "MAX_SAMPLES",
    "AdaptiveConfig",
    "AdaptivePlugin",
    "Sample",
    "Standing",
    "Stats",
    "Window",
    "move_back_all",
]
