"""Keep freed memory in the process for CPU training (glibc's malloc).

By default glibc serves large blocks (the activations and gradients of a CNN's step, megabytes
each) with mmap and returns them to the system when freed, and trims its heap as soon as 128 KiB
are free at its top: every training step then maps fresh pages again and the kernel zeroes them,
which slows CPU training (README, Benchmark). The process keeps at most its peak, which it
reaches at every step anyway.
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# The largest mmap threshold glibc accepts on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD_MAX = 32 * 2**20
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MiB from the heap and trim it only past 1 GiB free; False where
    the C library is not glibc (nothing changes)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    done = (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
            and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    if not done:
        log.debug("mallopt refused the CPU allocator settings")
    return done
