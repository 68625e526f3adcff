"""Output filters for CodeRouter: remove ``<think>`` blocks, chat-template markers and
reasoning fields that local models leak into their answers (``[plugins.output_filters]``)."""

from coderouter_output_filters.config import FilterSettings, OutputFiltersConfig, ProviderFilters
from coderouter_output_filters.plugin import OutputFiltersPlugin, client_wants_thinking
from coderouter_output_filters.text import (
    DEFAULT_STOP_MARKERS,
    THINK_TAGS,
    Patterns,
    TextFilter,
    compile_patterns,
)
from coderouter_output_filters.transform import OutputFilterTransform

__all__ = [
    "DEFAULT_STOP_MARKERS",
    "THINK_TAGS",
    "FilterSettings",
    "OutputFilterTransform",
    "OutputFiltersConfig",
    "OutputFiltersPlugin",
    "Patterns",
    "ProviderFilters",
    "TextFilter",
    "client_wants_thinking",
    "compile_patterns",
]
