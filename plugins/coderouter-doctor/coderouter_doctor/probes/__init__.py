"""The doctor's own probes, in the order they run."""

from __future__ import annotations

from coderouter_doctor.probe import Probe
from coderouter_doctor.probes.cache import Cache
from coderouter_doctor.probes.context import Context
from coderouter_doctor.probes.reach import Reach
from coderouter_doctor.probes.stream import Speed, Stream
from coderouter_doctor.probes.thinking import ReasoningLeak, Thinking
from coderouter_doctor.probes.tools import Tools

__all__ = [
    "Cache",
    "Context",
    "Reach",
    "ReasoningLeak",
    "Speed",
    "Stream",
    "Thinking",
    "Tools",
    "builtin_probes",
]


def builtin_probes() -> list[Probe]:
    return [Reach(), Context(), Tools(), Thinking(), ReasoningLeak(), Stream(), Cache(), Speed()]
