"""Bounded reads of input files: a file's size is checked before its bytes are read.

A run folder's inputs (IR text, JSON records) may be replaced by anything: a directory, a
symbolic link to ``/dev/zero``, a huge file. :func:`read_input_bytes` refuses everything but
a regular file of at most :data:`~spikesmith.sim.limits.INPUT_FILE_BYTES` and never reads more
than the limit plus one byte, so nothing unbounded is allocated. Standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .limits import INPUT_FILE_BYTES, IntRange

__all__ = ["read_input_bytes"]


def read_input_bytes(path: str | os.PathLike[str], *, limit: IntRange = INPUT_FILE_BYTES
                     ) -> bytes:
    """Return the bytes of the regular file ``path`` if its size lies in ``limit``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If ``path`` is not a regular file (a directory, a device, a pipe; links are followed)
        or is larger than ``limit.hi`` bytes; the message says what was found and what is
        accepted, without the path (the caller names the file).
    """
    path = Path(path)
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise ValueError(f"is {kind}, expected a regular file")
    with path.open("rb") as f:
        data = f.read(limit.hi + 1)
    if len(data) > limit.hi:
        raise ValueError(f"is larger than {limit.hi} bytes ({limit.hi >> 20} MiB), the "
                         f"accepted {limit.name} ({limit.describe()})")
    return data
