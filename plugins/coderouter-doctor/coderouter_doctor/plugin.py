"""The ``doctor`` plugin: contributes the built-in probes through ``doctor_probes``.

The ``coderouter doctor`` command itself comes from the ``coderouter.standalone_commands``
entry point, so it works whether or not ``doctor`` is listed in ``[plugins] enabled``; when it
is not, the command registers this plugin for its own run.
"""

from __future__ import annotations

from coderouter import Plugin, hookimpl
from coderouter_doctor.probe import Probe
from coderouter_doctor.probes import builtin_probes

__all__ = ["DoctorPlugin"]


class DoctorPlugin(Plugin):
    """The built-in probes: reach, context, tools, thinking, reasoning-leak, stream, cache,
    speed."""

    @hookimpl
    def doctor_probes(self) -> list[Probe]:
        return builtin_probes()
