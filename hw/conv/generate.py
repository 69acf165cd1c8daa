"""Write the gateware of a conv core or a conv network: one Verilog file.

The weights, biases and the neuron-pass order are initial memory contents in the Verilog.
The file is written atomically (``sim.files.atomic_write_text``), and only when its text
changed (so a Verilator build folder redoes no work).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Const, Fragment, Value
from amaranth.lib import wiring

from spikesmith.sim.files import atomic_write_text

from .config import ConvCoreConfig
from .conv_core import ConvCore
from .conv_network import ConvNetwork
from .network_config import ConvNetworkConfig

__all__ = [
    "CONV_NETWORK_TOP_NAME",
    "CONV_TOP_NAME",
    "GeneratedConvDesign",
    "conv_network_design",
    "generate_conv_core",
    "generate_conv_network",
]

#: Verilog module name of a generated conv core.
CONV_TOP_NAME = "spikesmith_conv_core"
#: Verilog module name of a generated conv network.
CONV_NETWORK_TOP_NAME = "spikesmith_conv_network"


@dataclass(frozen=True)
class GeneratedConvDesign:
    """A conv core or conv network written by :func:`generate_conv_core` or
    :func:`generate_conv_network`.

    Attributes
    ----------
    config : ConvCoreConfig or ConvNetworkConfig
        What it was generated from.
    verilog : Path
        The Verilog file (module ``top``).
    top : str
        Verilog module name.
    ports : dict[str, int]
        Width of every port (flattened names such as ``i__payload``), constants left out.
    readbacks : tuple[str, ...]
        Names of the readback streams, in core order (``readback`` for a lone core).
    """

    config: ConvCoreConfig | ConvNetworkConfig
    verilog: Path
    top: str
    ports: dict[str, int]
    readbacks: tuple[str, ...]


def _ports(component: wiring.Component) -> tuple[list[Value], dict[str, int]]:
    """The port signals of ``component`` and the width of each (constants left out)."""
    signals, widths = [], {}
    for path, _member, value in component.signature.flatten(component):
        if isinstance(value, Const):
            continue  # an always-ready ``ready``
        value = Value.cast(value)
        signals.append(value)
        widths["__".join(str(p) for p in path)] = len(value)
    return signals, widths


def _write(component: wiring.Component, *, config, top: str, readbacks: tuple[str, ...],
           out_dir: str | os.PathLike) -> GeneratedConvDesign:
    signals, widths = _ports(component)
    text = verilog.convert(component, name=top, ports=signals, emit_src=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{top}.v"
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    return GeneratedConvDesign(config=config, verilog=path, top=top, ports=widths,
                               readbacks=readbacks)


def _network_readbacks(config: ConvNetworkConfig) -> tuple[str, ...]:
    return tuple(f"readback_{k}" for k in range(len(config.cores)))


def conv_network_design(config: ConvNetworkConfig, out_dir: str | os.PathLike
                        ) -> GeneratedConvDesign:
    """Return the record of the conv network of ``config`` whose Verilog file
    ``<out_dir>/<CONV_NETWORK_TOP_NAME>.v`` is already written, without writing anything (the
    file is used as it is: e.g. a run folder's Verilog, which verification compiles as found).
    """
    network = ConvNetwork(config)
    _, widths = _ports(network)
    Fragment.get(network, None)  # elaborated (not converted), so no core is reported unused
    return GeneratedConvDesign(config=config, verilog=Path(out_dir) / f"{CONV_NETWORK_TOP_NAME}.v",
                               top=CONV_NETWORK_TOP_NAME, ports=widths,
                               readbacks=_network_readbacks(config))


def generate_conv_core(config: ConvCoreConfig, out_dir: str | os.PathLike
                       ) -> GeneratedConvDesign:
    """Elaborate one conv core and write ``<out_dir>/<CONV_TOP_NAME>.v``; return its record."""
    return _write(ConvCore(config), config=config, top=CONV_TOP_NAME, readbacks=("readback",),
                  out_dir=out_dir)


def generate_conv_network(config: ConvNetworkConfig, out_dir: str | os.PathLike
                          ) -> GeneratedConvDesign:
    """Elaborate a conv network and write ``<out_dir>/<CONV_NETWORK_TOP_NAME>.v``; return its
    record."""
    return _write(ConvNetwork(config), config=config, top=CONV_NETWORK_TOP_NAME,
                  readbacks=_network_readbacks(config), out_dir=out_dir)
