"""Compiler passes, each a plain ``Graph -> Graph`` function in its own module.

The order they run in is the one explicit list in ``compiler.pipeline``.
"""

from .infer_widths import infer_widths
from .partition import partition
from .quantize import quantize

__all__ = ["infer_widths", "partition", "quantize"]
