"""The machine a benchmark ran on: CPU model, cores, memory, load, software versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import psutil

from pyama_dask.rundir.provenance import package_versions


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_record() -> dict[str, Any]:
    """What describes the machine and its state now (load changes while the benchmark runs)."""
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "load_average": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def describe(machine: dict[str, Any]) -> str:
    """One line for humans, e.g. ``AMD EPYC, 2 cores, 23.5 GiB RAM``."""
    return f"{machine['cpu']}, {machine['usable_cores']} cores, {machine['ram_bytes'] / 2**30:.1f} GiB RAM"
