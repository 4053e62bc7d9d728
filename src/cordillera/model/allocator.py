"""Keep freed memory in the process between decisions instead of returning it to the OS each time.

    >>> from cordillera.model.allocator import keep_freed_memory
    >>> keep_freed_memory()        # True where glibc's malloc took the settings

A decision allocates and frees the same few megabytes every time (the vision stem's activations are the
largest). With glibc's default trim threshold the heap top goes back to the kernel after a decision and is
faulted in again, page by page, at the next: measured on the 2-core machine (benchmarks/policy_latency.py,
one thread), the vision stage took 6.0-6.7 ms by default and 4.4-4.5 ms with these settings, the other stages
unchanged. The cost is that the process keeps up to the trim threshold of freed heap (the model's
inference needs tens of megabytes). Process-wide; applied by `VLAPolicy`; a no-op where the C library is
not glibc (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_TOP_PAD = -1, -2  # mallopt parameters (glibc malloc.h)
TRIM_THRESHOLD = 512 << 20  # free heap top kept before it is returned
TOP_PAD = 64 << 20  # extra heap requested whenever it grows


@functools.cache  # a process-wide setting: once per process, not at every policy built (eval builds one a rollout)
def keep_freed_memory() -> bool:
    """Raise glibc's trim threshold and top pad (`mallopt`); False where unavailable."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(_M_TOP_PAD, TOP_PAD))
