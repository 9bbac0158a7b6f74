"""Which memory allocator ``sipwright serve`` runs on, chosen before the interpreter starts.

CPython's own small-object allocator (pymalloc) carves 1 MiB arenas into 16 KiB pools
and gives an arena back only when every block in it is free. After a burst of calls the
proxy frees everything it held, yet the few long-lived blocks made during the burst
(an event-loop handle on a free list, a refilled cache entry, a re-grown table) sit in
pools spread over many arenas, and each pins its whole arena: measured here, a worker
kept ~30 MB after a 10 000-call run with nothing live. glibc's malloc, which
``malloc_trim`` can make return every free *page* wherever it is in the heap, brings the
process back to its pre-burst size when it goes idle (see :mod:`.memory`), for ~5 % more
CPU per call (figures in ``docs/serve.md``).

The allocator is fixed when the interpreter starts (``PYTHONMALLOC``), so ``serve``
re-executes itself once with the variable set: same PID, same arguments, same file
descriptors, nothing bound yet. It does so only when it was started as the
``sipwright`` program (not when ``serve`` is called inside another Python program, such
as a test runner) and when ``PYTHONMALLOC`` is not already set (an explicit choice wins).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ALLOCATORS", "active_allocator", "reexec_argv", "use_allocator"]

#: ``malloc``: glibc's allocator for every Python object (memory returns when idle);
#: ``pymalloc``: CPython's default (a little faster; keeps arenas after a burst).
ALLOCATORS = ("malloc", "pymalloc")


def active_allocator(environ: Mapping[str, str] | None = None) -> str:
    """The allocator this interpreter was started with, as ``PYTHONMALLOC`` names it."""
    env = os.environ if environ is None else environ
    return env.get("PYTHONMALLOC", "") or "pymalloc"


def _started_as_sipwright(argv: Sequence[str], main_spec: str | None) -> bool:
    """True for the ``sipwright`` console script and ``python -m sipwright``."""
    if main_spec in ("sipwright", "sipwright.__main__"):
        return True
    return bool(argv) and Path(argv[0]).name == "sipwright"


def reexec_argv(
    wanted: str,
    *,
    environ: Mapping[str, str],
    argv: Sequence[str],
    orig_argv: Sequence[str],
    main_spec: str | None,
) -> list[str] | None:
    """The command line to re-execute with, or None to carry on in this process."""
    if wanted not in ALLOCATORS:
        raise ValueError(f"unknown allocator {wanted!r}")
    if "PYTHONMALLOC" in environ:  # chosen explicitly (or already re-executed)
        return None
    if wanted == "pymalloc" or not orig_argv:
        return None
    if not _started_as_sipwright(argv, main_spec):
        return None
    return list(orig_argv)


def use_allocator(wanted: str) -> None:
    """Re-execute this process with ``PYTHONMALLOC=wanted`` when that is needed and
    possible (see the module docstring); otherwise return and carry on."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    command = reexec_argv(
        wanted,
        environ=os.environ,
        argv=sys.argv,
        orig_argv=getattr(sys, "orig_argv", []),
        main_spec=spec.name if spec is not None else None,
    )
    if command is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, {**os.environ, "PYTHONMALLOC": wanted})
