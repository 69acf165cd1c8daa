"""Write a convolution core's gateware: Verilog of one :class:`~.conv_core.ConvCore`.

The weights, biases and the neuron-pass order are initial memory contents in the Verilog.
The file is written atomically (``sim.files.atomic_write_text``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Const, Value

from spikesmith.sim.files import atomic_write_text

from .config import ConvCoreConfig
from .conv_core import ConvCore

__all__ = ["CONV_TOP_NAME", "GeneratedConvCore", "generate_conv_core"]

#: Verilog module name of a generated conv core.
CONV_TOP_NAME = "spikesmith_conv_core"


@dataclass(frozen=True)
class GeneratedConvCore:
    """A conv core written by :func:`generate_conv_core`.

    Attributes
    ----------
    config : ConvCoreConfig
        What it was generated from.
    verilog : Path
        The Verilog file (module :data:`CONV_TOP_NAME`).
    ports : dict[str, int]
        Width of every port (flattened names such as ``i__payload``), constants left out.
    """

    config: ConvCoreConfig
    verilog: Path
    ports: dict[str, int]

    @property
    def top(self) -> str:
        """Verilog module name of the core."""
        return CONV_TOP_NAME


def generate_conv_core(config: ConvCoreConfig, out_dir: str | os.PathLike) -> GeneratedConvCore:
    """Elaborate ``config`` and write ``<out_dir>/<CONV_TOP_NAME>.v``; return its record.

    A file that already holds the same text is left untouched (so Verilator rebuilds nothing).
    """
    core = ConvCore(config)
    signals, widths = [], {}
    for path, _member, value in core.signature.flatten(core):
        if isinstance(value, Const):
            continue  # an always-ready ``ready``
        value = Value.cast(value)
        signals.append(value)
        widths["__".join(str(p) for p in path)] = len(value)
    text = verilog.convert(core, name=CONV_TOP_NAME, ports=signals, emit_src=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{CONV_TOP_NAME}.v"
    if not path.is_file() or path.read_text() != text:  # unchanged: keep the date for make
        atomic_write_text(path, text)
    return GeneratedConvCore(config=config, verilog=path, ports=widths)
