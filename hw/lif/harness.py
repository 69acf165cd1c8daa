"""Free-running Verilator harness around a generated LIF network, for bulk verification.

The harness (SystemVerilog written by :func:`harness_verilog` from a design's
:class:`~spikesmith.hw.lif.manifest.DesignManifest`, with
the shared pieces of :mod:`spikesmith.hw.common.verilator_harness`) reads the host's event
stream into the network's ``i`` stream, keeps ``o`` always ready, and writes every output
event (``o <hex>``), the first readback records of each layer (``r<l> <hex>``) and the cycle at
which each sample completed (``d <cycle>``) to an output file.

Stimulus file: line 1 the sample count, line 2 a cycle limit, then per readback port the number
of records to write, then the input payloads in hex. The words are those of the host model
(:mod:`spikesmith.hw.lif.host`); the comparison is :mod:`spikesmith.verification.lif`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..common.verilator_harness import (
    build_lock,
    build_sources,
    harness_feed_input,
    harness_finish,
    harness_open_files,
    harness_prologue,
    harness_write_outputs,
    run_stimulus,
    write_if_changed,
)
from .generate import GeneratedDesign

__all__ = [
    "HARNESS_TOP",
    "HarnessRun",
    "build_harness",
    "harness_verilog",
    "parse_harness_output",
    "run_harness",
]

#: Module name of the harness (the Verilator top level).
HARNESS_TOP = "ss_harness"


def harness_verilog(design: GeneratedDesign) -> str:
    """Return the SystemVerilog text of the harness for ``design``."""
    manifest = design.manifest
    n_rb = len(manifest.cores)
    iw = manifest.port("i__payload").width
    ow = manifest.port("o__payload").width
    rbw = [manifest.port(f"readback_{k}__payload").width for k in range(n_rb)]
    lines = [
        *harness_prologue(top=HARNESS_TOP, in_width=iw),
        "  wire in_ready;",
        "  wire o_valid;",
        f"  wire [{ow - 1}:0] o_payload;",
        "  wire [31:0] samples_done;",
        "  wire busy;",
    ]
    for k, w in enumerate(rbw):
        lines += [
            f"  wire rb{k}_valid;",
            f"  wire [{w - 1}:0] rb{k}_payload;",
            f"  reg [31:0] rb{k}_limit = 32'd0;",
            f"  reg [31:0] rb{k}_count = 32'd0;",
        ]
    conns = [
        ".clk(clk)", ".rst(rst)", ".clear(1'b0)",
        ".i__valid(in_valid)", ".i__payload(in_payload)", ".i__ready(in_ready)",
        ".o__valid(o_valid)", ".o__payload(o_payload)", ".o__ready(1'b1)",
        ".samples_done(samples_done)", ".busy(busy)",
    ]
    conns += [f".readback_{k}__valid(rb{k}_valid), .readback_{k}__payload(rb{k}_payload)"
              for k in range(n_rb)]
    lines.append(f"  {design.top} dut(")
    lines.append("    " + ",\n    ".join(conns))
    lines.append("  );")
    lines += harness_open_files(extra_reads=[f"rb{k}_limit" for k in range(n_rb)])
    lines += harness_feed_input()
    lines += [
        *harness_write_outputs(out_width=ow, readbacks=n_rb),
    ]
    lines += harness_finish(finished="seen == n_samples", timed_out="(seen != n_samples)")
    return "\n".join(lines)


@dataclass(frozen=True)
class HarnessRun:
    """Raw results of one harness run.

    Attributes
    ----------
    outputs : list[int]
        Output-stream payloads in order.
    readback : list[list[int]]
        Per layer, the readback payloads written.
    sample_done_cycles : list[int]
        Cycle (after reset) at which each sample's final output marker appeared.
    cycles : int
        Cycles until the harness stopped.
    """

    outputs: list[int]
    readback: list[list[int]]
    sample_done_cycles: list[int]
    cycles: int


def build_harness(design: GeneratedDesign, build_dir: str | os.PathLike, *,
                  trace: bool = False) -> Path:
    """Compile ``design``'s Verilog, as it is in its folder, with the harness; return the dir.

    Verilator and make only redo work when a source changed. ``trace`` makes a build that can
    write waveforms (``build_sources``); keep it in its own folder.

    Raises
    ------
    RuntimeError
        If Verilator is unusable here.
    """
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    hpath = build / f"{HARNESS_TOP}.sv"
    write_if_changed(hpath, harness_verilog(design))
    return build_sources([Path(design.verilog).resolve(), hpath], top=HARNESS_TOP,
                         build_dir=build, trace=trace)


def run_harness(design: GeneratedDesign, *, build_dir: str | os.PathLike,
                events: list[int], n_samples: int, readback_limits: list[int],
                max_cycles: int, waveform: Path | None = None) -> HarnessRun:
    """Build (if needed) and run the harness on packed input ``events``.

    Parameters
    ----------
    events : list[int]
        Layer-0 input payloads (``hw.common.streams.pack``), markers included.
    n_samples : int
        Samples in ``events`` (markers with ``last``).
    readback_limits : list[int]
        Per layer, how many readback records to write (the first ones).
    max_cycles : int
        Cycles after which the harness gives up (reported as a timeout).
    waveform : Path, optional
        Write an FST waveform of every signal of the run there (the build in ``build_dir`` is
        then a tracing one; use a folder of its own).

    Raises
    ------
    RuntimeError
        If the simulation timed out before ``n_samples`` samples completed.
    """
    build = Path(build_dir).resolve()
    with build_lock(build):
        return _run_locked(design, build, events=events, n_samples=n_samples,
                           readback_limits=readback_limits, max_cycles=max_cycles,
                           waveform=waveform)


def _run_locked(design: GeneratedDesign, build: Path, *, events: list[int], n_samples: int,
                readback_limits: list[int], max_cycles: int,
                waveform: Path | None) -> HarnessRun:
    build_harness(design, build, trace=waveform is not None)
    lines = run_stimulus(build, top=HARNESS_TOP, header=[n_samples, max_cycles, *readback_limits],
                         words=events, waveform=waveform)
    return parse_harness_output(lines, readback_ports=len(readback_limits), n_samples=n_samples,
                                max_cycles=max_cycles, build=build)


def parse_harness_output(lines: list[str], *, readback_ports: int, n_samples: int,
                         max_cycles: int, build: Path) -> HarnessRun:
    """Return the :class:`HarnessRun` of a harness output file's ``lines`` (``o``, ``r<k>``,
    ``d`` and ``c`` lines, as :func:`harness_verilog` writes them; the conv core's harness
    writes the same).

    Raises
    ------
    RuntimeError
        If fewer than ``n_samples`` samples completed (the message names ``build``'s log).
    """
    outputs: list[int] = []
    readback: list[list[int]] = [[] for _ in range(readback_ports)]
    done: list[int] = []
    cycles = -1
    for line in lines:
        tag, _, val = line.partition(" ")
        if tag == "o":
            outputs.append(int(val, 16))
        elif tag == "d":
            done.append(int(val))
        elif tag == "c":
            cycles = int(val)
        else:
            readback[int(tag[1:])].append(int(val, 16))
    if len(done) != n_samples:
        raise RuntimeError(
            f"the harness stopped after {cycles} cycles with {len(done)} of {n_samples} samples"
            f" complete (limit {max_cycles} cycles); see {build / 'sim.log'}")
    return HarnessRun(outputs=outputs, readback=readback, sample_done_cycles=done,
                      cycles=cycles)
