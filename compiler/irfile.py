"""IR files: atomic writes and loads with clear errors for damaged files."""

from __future__ import annotations

import os
from pathlib import Path

from spikesmith.sim.files import atomic_write_text, read_input_bytes

from .errors import CompilerError
from .ir import Graph
from .render import IRSyntaxError, parse, render
from .verify import IRError, verify

__all__ = ["IRFileError", "load_ir", "save_ir"]


class IRFileError(CompilerError):
    """An IR file cannot be read as a valid graph; the message names the file."""


def save_ir(path: str | os.PathLike[str], g: Graph) -> Path:
    """Verify ``g`` and write its text form to ``path`` atomically (temp file, then rename).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    IRError
        If ``g`` breaks an IR rule; nothing is written.
    """
    verify(g)
    return atomic_write_text(path, render(g))


def load_ir(path: str | os.PathLike[str]) -> Graph:
    """Read and verify an IR file written by :func:`save_ir`.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    IRFileError
        If the path is not a regular file or is larger than
        ``sim.limits.INPUT_FILE_BYTES`` (checked before reading), if the file is not UTF-8,
        is malformed (wrong header, bad numbers, truncated: the
        message gives the line, what was found and what is accepted) or breaks an IR rule.
    """
    path = Path(path)
    try:
        data = read_input_bytes(path)
    except ValueError as exc:
        raise IRFileError(f"{path}: {exc} (a spikesmith IR file)") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IRFileError(f"{path}: not UTF-8 text (byte {exc.start}); expected a spikesmith "
                          f"IR file") from exc
    try:
        g = parse(text)
        verify(g)
    except (IRSyntaxError, IRError) as exc:
        raise IRFileError(f"{path}: {exc}") from exc
    return g
