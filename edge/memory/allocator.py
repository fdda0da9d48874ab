"""glibc malloc tuning so large received frames reuse memory instead of faulting in fresh pages.

libzmq's I/O thread mallocs each received message in its own arena and the node's
thread frees it. With glibc's defaults a multi-MB buffer is either mmapped (and unmapped
on free) or, once the dynamic mmap threshold has grown, freed into an arena that is then
trimmed (madvise(MADV_DONTNEED)); either way the next frame is copied into fresh pages
and the I/O thread spends its time in page faults (1080p: ~95 faults per message vs ~24
with the thresholds below; see docs/PERFORMANCE.md).

Fixed thresholds keep frames up to MMAP_THRESHOLD_BYTES in the arenas and let each arena
keep up to TRIM_THRESHOLD_BYTES free at its top. The price is resident memory: after a
burst, a process may hold up to that much freed memory per arena (in practice the main
arena and libzmq's I/O thread's) instead of returning it to the kernel.

Opt out with EDGE_MALLOC_TUNING=0; explicit MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_
in the environment win (glibc reads them itself), and nothing happens on other C libraries.
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger("edge.memory.allocator")

ENV_VAR = "EDGE_MALLOC_TUNING"
M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20   # glibc's maximum on 64-bit; bigger frames stay mmapped
TRIM_THRESHOLD_BYTES = 128 << 20

_applied: dict | None = None


def tune_allocator() -> dict:
    """Apply the thresholds once per process; returns what was set (empty if nothing)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = {}
    if os.environ.get(ENV_VAR, "1") == "0" or platform.libc_ver()[0] != "glibc":
        return _applied
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return _applied
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    for env, option, value in (("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                               ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        if env in os.environ:
            continue
        if mallopt(option, value) == 1:
            _applied[env.strip("_").lower()] = value
        else:
            log.warning("mallopt(%d, %d) failed; large frames may page-fault", option, value)
    return _applied
