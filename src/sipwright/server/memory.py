"""Give memory back to the system once the server is idle again.

After a burst, the proxy frees its transactions, but the process keeps the memory:
CPython's small-object arenas and glibc's heap are released to the kernel only when
they are wholly free at the top, and a busy heap rarely is. When the server goes idle
(no live transaction, no proxy context), emptying the header memo tables (their entries,
made all along the burst, pin many of the allocator's blocks), one full collection and
glibc's ``malloc_trim(0)`` return the free pages, so the resident size comes back near where
it was before the burst (what an operator watching RSS/PSS expects of a server that
holds no state). It runs once per busy-then-idle cycle, never under load: a full
collection walks every object, which is exactly the pause a busy proxy must avoid.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import resource
import sys
from collections.abc import Callable

from ..headers.memo import clear_memo_tables

__all__ = ["clear_caches", "release_memory", "resident_bytes"]

log = logging.getLogger("sipwright.server.memory")


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim  # glibc only; musl and others have none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    func: Callable[[int], int] = trim
    return func


_malloc_trim = _load_malloc_trim()


def resident_bytes() -> int | None:
    """This process's resident set size (Linux ``/proc/self/statm``), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            fields = fh.read().split()
    except OSError:
        return None
    return int(fields[1]) * resource.getpagesize()


def clear_caches() -> None:
    """Empty sipwright's bounded caches: the memo tables (and the tables registered
    with them) and every ``functools.lru_cache`` of a sipwright module. Their entries
    were made all along the burst, so they pin memory blocks the burst otherwise freed;
    they refill from the next messages."""
    clear_memo_tables()
    # Found through the modules, not gc.get_objects(): in a worker everything it
    # inherited is frozen (see serve), and frozen objects are not listed there.
    for name, module in list(sys.modules.items()):
        if name.startswith("sipwright.") and module is not None:
            for value in list(vars(module).values()):
                if isinstance(value, functools._lru_cache_wrapper):
                    value.cache_clear()


def release_memory() -> tuple[int | None, int | None]:
    """Collect everything and hand free heap pages back; (RSS before, RSS after)."""
    before = resident_bytes()
    clear_caches()
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    after = resident_bytes()
    log.debug(
        "memory-released",
        extra={"fields": {"rss_before": before, "rss_after": after}},
    )
    return before, after
