"""Resident memory of a process, now and its peak since the last reset (Linux), and its CPU time.

Run on Dask workers with ``client.run``: the kernel keeps the peak (``VmHWM``),
so no sampling thread can miss a short-lived spike. Elsewhere than Linux the
peak is ``getrusage``'s, which cannot be reset (it then covers the whole
life of the process).
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

import psutil

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
# Writing 5 to clear_refs resets the peak resident set size to the current one.
_RESET_PEAK = "5"


def current_rss() -> int:
    """Resident set size of this process, bytes."""
    return psutil.Process().memory_info().rss


def reset_peak_rss() -> int:
    """Start measuring the peak from now on (Linux); return the current RSS in bytes."""
    if _CLEAR_REFS.exists():
        _CLEAR_REFS.write_text(_RESET_PEAK)
    return current_rss()


def peak_rss() -> int:
    """Largest resident set size since :func:`reset_peak_rss` (or since start), bytes."""
    if _STATUS.exists():
        match = re.search(r"^VmHWM:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def cpu_seconds() -> float:
    """User plus system CPU time this process has used, seconds."""
    times = psutil.Process().cpu_times()
    return times.user + times.system
