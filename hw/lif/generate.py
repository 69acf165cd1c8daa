"""Write a network's gateware: Verilog, RTLIL and its manifest (:mod:`.manifest`).

The weights are the initial contents of the cores' weight memories, so they appear as memory
initialisation in the Verilog; editing them there changes what a Verilator run computes.
Every file is written to a temporary name and renamed into place, the manifest last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil, verilog
from amaranth.hdl import Const, Value

from spikesmith.sim.decision import OutputRule
from spikesmith.sim.files import atomic_write_text

from .config import LIFCoreConfig, NetworkConfig
from .first_spike import FirstSpikeNetwork
from .manifest import CoreRecord, DesignManifest, PortDirection, PortRecord
from .network import Network

__all__ = ["MANIFEST_NAME", "TOP_NAME", "GeneratedDesign", "core_record", "generate", "load_design"]

#: Verilog module name of the network top level.
TOP_NAME = "spikesmith_network"
#: File name of the manifest inside a design folder.
MANIFEST_NAME = "design.json"


@dataclass(frozen=True)
class GeneratedDesign:
    """A design folder written by :func:`generate`.

    Attributes
    ----------
    out_dir : Path
        The folder.
    verilog : Path
        Verilog of the whole network (module ``manifest.top``).
    rtlil : Path
        The same design as RTLIL.
    manifest : DesignManifest
        Ports and per-core parameters of the top level.
    """

    out_dir: Path
    verilog: Path
    rtlil: Path
    manifest: DesignManifest

    @property
    def top(self) -> str:
        """Verilog module name of the top level."""
        return self.manifest.top


def _ports(component) -> tuple[list, tuple[PortRecord, ...]]:
    """Return the port signals (constant members such as an always-ready ``ready`` left out)
    and their manifest records."""
    signals, records = [], []
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, Const):
            continue
        name = "__".join(str(p) for p in path)
        value = Value.cast(value)
        signals.append(value)
        records.append(PortRecord(name=name, direction=PortDirection(member.flow.value.lower()),
                                  width=len(value)))
    return signals, tuple(records)


def core_record(c: LIFCoreConfig) -> CoreRecord:
    """Return the manifest record of core ``c`` (what the host model needs to decode it)."""
    return CoreRecord(name=c.name, n_in=c.n_in, n_out=c.n_out, lanes=c.lanes,
                      groups=c.groups, input_bits=c.input_bits,
                      weight_bits=c.weight_bits, acc_bits=c.acc_bits,
                      membrane_bits=c.lif.membrane.width, threshold=c.lif.threshold,
                      model=c.lif.model, leak_shift=c.lif.leak_shift, reset=c.lif.reset)


def generate(config: NetworkConfig, out_dir: str | os.PathLike, *,
             rule: OutputRule = OutputRule.MAX_COUNT) -> GeneratedDesign:
    """Elaborate ``config`` and write ``<top>.v``, ``<top>.il`` and ``design.json``.

    The manifest (:class:`~spikesmith.hw.lif.manifest.DesignManifest`) holds the top's name,
    the timesteps, its ports and one record per core. ``rule`` ``FIRST_SPIKE`` makes the top
    a :class:`~spikesmith.hw.lif.first_spike.FirstSpikeNetwork` (its manifest has a
    ``decision__payload`` port); ``MAX_COUNT`` the plain ``Network``.

    Raises
    ------
    TypeError
        If ``config`` is not a ``NetworkConfig`` or ``rule`` not an ``OutputRule``.
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    if not isinstance(rule, OutputRule):
        raise TypeError(f"rule must be an OutputRule, not {rule!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top_class = FirstSpikeNetwork if rule is OutputRule.FIRST_SPIKE else Network
    top = top_class(config)
    signals, ports = _ports(top)
    v_text = verilog.convert(top, name=TOP_NAME, ports=signals, emit_src=False)
    top = top_class(config)
    signals, _ = _ports(top)
    il_text = rtlil.convert(top, name=TOP_NAME, ports=signals, emit_src=False)
    manifest = DesignManifest(top=TOP_NAME, timesteps=config.timesteps, ports=ports,
                              cores=tuple(core_record(c) for c in config.cores))
    v_path, il_path = out / f"{TOP_NAME}.v", out / f"{TOP_NAME}.il"
    atomic_write_text(v_path, v_text)
    atomic_write_text(il_path, il_text)
    manifest.save(out / MANIFEST_NAME)
    return GeneratedDesign(out_dir=out, verilog=v_path, rtlil=il_path, manifest=manifest)


def load_design(out_dir: str | os.PathLike) -> GeneratedDesign:
    """Return the design in a folder written by :func:`generate` (files as they are now).

    Raises
    ------
    FileNotFoundError
        If the manifest or the Verilog is missing.
    spikesmith.hw.lif.manifest.ManifestError
        If the manifest is malformed (a ``ValueError`` naming the file and the field).
    """
    out = Path(out_dir)
    mpath = out / MANIFEST_NAME
    if not mpath.is_file():
        raise FileNotFoundError(f"design folder {out} must contain {MANIFEST_NAME}")
    manifest = DesignManifest.load(mpath)
    v_path = out / f"{manifest.top}.v"
    if not v_path.is_file():
        raise FileNotFoundError(f"design folder {out} must contain {v_path.name}")
    return GeneratedDesign(out_dir=out, verilog=v_path, rtlil=out / f"{manifest.top}.il",
                           manifest=manifest)
