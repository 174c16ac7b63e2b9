"""Resident memory of this process, for a training memory budget that stops cleanly.

The operating system's out-of-memory killer gives no warning and leaves no model; checking our
own resident set size every few steps lets the trainer stop first and keep what it has learned.
No psutil: ``/proc/self/statm`` on Linux, ``resource.getrusage`` elsewhere (a peak, not the
current size, so it can only stop training early, never late).
"""

from __future__ import annotations

import os
import sys

from genbalance.utils import format_bytes, parse_bytes

__all__ = ["format_bytes", "parse_budget", "rss_bytes"]


def rss_bytes() -> int:
    """Current resident set size of this process in bytes (peak where current is unknown)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            resident_pages = int(fh.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # Windows: no cheap portable reading; the budget cannot be checked
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes, Linux: KiB


def parse_budget(value: int | str) -> int:
    """``2_000_000_000``, ``"512MiB"``, ``"4GB"`` -> bytes (the same units as the CLI)."""
    return parse_bytes(value)
