"""Files: atomic writes (the one way every layer writes an artefact) and bounded reads.

A file is written to a temporary name in its destination folder, flushed to disk, then renamed
over the destination with ``os.replace``, so a reader sees either the old file or the whole
new one, and an interrupted write leaves nothing half-written. A run folder's inputs (IR
text, JSON records) may be replaced by anything: a directory, a symbolic link to ``/dev/zero``,
a huge file; :func:`read_input_bytes` refuses everything but a regular file of at most
:data:`~spikesmith.sim.limits.INPUT_FILE_BYTES` and never reads more than the limit plus one
byte. Standard library only, so every layer (``sim`` included) may use it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .limits import INPUT_FILE_BYTES, IntRange

__all__ = ["atomic_write_bytes", "atomic_write_text", "read_input_bytes"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (creating its folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 with ``\\n`` line ends, atomically; return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_input_bytes(path: str | os.PathLike[str], *, limit: IntRange = INPUT_FILE_BYTES
                     ) -> bytes:
    """Return the bytes of the regular file ``path`` if its size lies in ``limit``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If ``path`` is not a regular file (a directory, a device, a pipe; links are followed)
        or is larger than ``limit.hi`` bytes (its size is checked before anything is read,
        and at most ``limit.hi + 1`` bytes are read); the message says what was found and
        what is accepted, without the path (the caller names the file).
    """
    path = Path(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
        raise ValueError(f"is {kind}, expected a regular file")
    if info.st_size > limit.hi:
        raise _too_large(limit)
    with path.open("rb") as f:
        data = f.read(limit.hi + 1)
    if len(data) > limit.hi:  # it grew since the stat
        raise _too_large(limit)
    return data


def _too_large(limit: IntRange) -> ValueError:
    mib = f" ({limit.hi >> 20} MiB)" if limit.hi >= 1 << 20 else ""
    return ValueError(f"is larger than {limit.hi} bytes{mib}, the accepted {limit.name} "
                      f"({limit.describe()}){limit.hint}")
