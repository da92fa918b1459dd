"""``lapor-sync doctor``: checks each layer between this machine and LAPOR!, one line each, with the fix."""

from lapor_sync.checks.doctor.result import EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_OK, Check, DoctorReport, Step
from lapor_sync.checks.doctor.walk import DEFAULT_TIMEOUT_SECONDS, Network, run_doctor

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "EXIT_CANNOT_RUN",
    "EXIT_FAILED",
    "EXIT_OK",
    "Check",
    "DoctorReport",
    "Network",
    "Step",
    "run_doctor",
]
