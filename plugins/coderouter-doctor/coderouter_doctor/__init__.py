"""``coderouter doctor``: probe every backend with real requests, explain what is wrong and
patch ``coderouter.toml``. Other plugins add probes through the ``doctor_probes`` hook."""

from coderouter_doctor.client import ProbeClient, Reply, user_request
from coderouter_doctor.patch import Append, Enable, Patch, PatchError, Set, apply_patches
from coderouter_doctor.plugin import DoctorPlugin
from coderouter_doctor.probe import VERDICTS, Probe, ProbeContext, ProbeResult, Verdict
from coderouter_doctor.runner import ProviderReport, exit_code, run_doctor

__all__ = [
    "VERDICTS",
    "Append",
    "DoctorPlugin",
    "Enable",
    "Patch",
    "PatchError",
    "Probe",
    "ProbeClient",
    "ProbeContext",
    "ProbeResult",
    "ProviderReport",
    "Reply",
    "Set",
    "Verdict",
    "apply_patches",
    "exit_code",
    "run_doctor",
    "user_request",
]
