"""Memory pressure for CodeRouter: out-of-memory failures of local backends are logged, or the
backend is rested for a cooldown (``[plugins.memory_pressure]``)."""

from coderouter_memory_pressure.config import MemoryPressureConfig
from coderouter_memory_pressure.phrases import PHRASES, find_oom
from coderouter_memory_pressure.plugin import MemoryPressurePlugin, Pressure

__all__ = ["PHRASES", "MemoryPressureConfig", "MemoryPressurePlugin", "Pressure", "find_oom"]
