"""The compiler's error hierarchy: every bad-input error is a :class:`CompilerError`.

The CLI reports a ``CompilerError`` as a user error (message, no traceback). Each subclass
lives next to the code that raises it:

* ``compiler.verify.IRError``: a graph breaks IR rules (every problem listed);
* ``compiler.render.IRSyntaxError``: malformed IR text (line, found, accepted);
* ``compiler.irfile.IRFileError``: an unreadable or invalid IR file (names the file);
* ``compiler.frontend.torch.UnsupportedLayerError`` and ``ModelStructureError``: a model
  the frontend cannot lower (every layer or problem listed);
* :class:`QuantizationError`: a parameter that does not fit its integer format.
"""

from __future__ import annotations

__all__ = ["CompilerError", "QuantizationError"]


class CompilerError(ValueError):
    """Bad input to the compiler (a model, a graph, IR text or a file)."""


class QuantizationError(CompilerError):
    """A parameter cannot be folded into its integer format; the message names the node."""
