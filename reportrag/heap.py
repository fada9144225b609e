"""Hand the C heap's free pages back to the system after a big load (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None


def release_free_heap() -> bool:
    """Return the free memory at the top and in the middle of glibc's heap to the system.

    Loading lingua's models parses compressed JSON and frees the parse: glibc keeps those
    pages (~30 MB resident) unless asked. A documented glibc call (``malloc_trim(0)``),
    harmless and a no-op elsewhere; False where it is not available.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
