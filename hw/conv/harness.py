"""Free-running Verilator harness around a generated conv core or conv network.

The harness (SystemVerilog from :func:`conv_harness_verilog`, assembled from the shared pieces
of :mod:`spikesmith.hw.common.verilator_harness`) reads the host's event words into the
design's ``i`` stream, keeps ``o`` always ready, and writes every output event (``o <hex>``),
the first records of each readback stream (``r<k> <hex>``) and the cycle at which each
sample's last marker appeared (``d <cycle>``), and ends the simulation. It runs as a plain
Verilator executable (:func:`~spikesmith.hw.common.verilator_harness.build_binary`: no cocotb
or VPI in the loop, every signal optimised). The words are those of the host model
(:mod:`.host`); the raw results come back as the dense harness's
:class:`~spikesmith.hw.lif.harness.HarnessRun`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..common.verilator_harness import (
    build_binary,
    build_lock,
    harness_feed_input,
    harness_finish,
    harness_open_files,
    harness_prologue,
    harness_write_outputs,
    run_binary,
    write_if_changed,
)
from ..lif.harness import HarnessRun, parse_harness_output
from .generate import GeneratedConvDesign

__all__ = ["CONV_HARNESS_TOP", "conv_harness_verilog", "run_conv_harness"]

#: Module name of the harness (the Verilator top level).
CONV_HARNESS_TOP = "ss_conv_harness"


def conv_harness_verilog(design: GeneratedConvDesign) -> str:
    """Return the SystemVerilog text of the harness around ``design``."""
    iw, ow = design.ports["i__payload"], design.ports["o__payload"]
    conns = [
        ".clk(clk)", ".rst(rst)", ".clear(1'b0)",
        ".i__valid(in_valid)", ".i__payload(in_payload)", ".i__ready(in_ready)",
        ".o__valid(o_valid)", ".o__payload(o_payload)", ".o__ready(1'b1)", ".busy(busy)",
    ]
    lines = [
        *harness_prologue(top=CONV_HARNESS_TOP, in_width=iw),
        "  wire in_ready;",
        "  wire o_valid;",
        f"  wire [{ow - 1}:0] o_payload;",
        "  wire busy;",
    ]
    for k, name in enumerate(design.readbacks):
        lines += [
            f"  wire rb{k}_valid;",
            f"  wire [{design.ports[f'{name}__payload'] - 1}:0] rb{k}_payload;",
            f"  reg [31:0] rb{k}_limit = 32'd0;",
            f"  reg [31:0] rb{k}_count = 32'd0;",
        ]
        conns.append(f".{name}__valid(rb{k}_valid), .{name}__payload(rb{k}_payload)")
    lines += [
        f"  {design.top} dut(",
        "    " + ",\n    ".join(conns),
        "  );",
        *harness_open_files(extra_reads=[f"rb{k}_limit" for k in range(len(design.readbacks))]),
        *harness_feed_input(),
        *harness_write_outputs(out_width=ow, readbacks=len(design.readbacks)),
    ]
    lines += harness_finish(finished="seen == n_samples", timed_out="(seen != n_samples)",
                            stop=True)
    return "\n".join(lines)


def run_conv_harness(design: GeneratedConvDesign, *, build_dir: str | os.PathLike,
                     events: list[int], n_samples: int, readback_limits: list[int],
                     max_cycles: int) -> HarnessRun:
    """Build (if needed) and run the harness on packed input ``events``.

    Parameters
    ----------
    events : list[int]
        Input payloads (:func:`.host.pack_feature_events`), markers included.
    n_samples : int
        Samples in ``events`` (markers with ``last``).
    readback_limits : list[int]
        Per readback stream, how many records to write (the first ones).
    max_cycles : int
        Cycles after which the harness gives up (reported as a timeout).

    Raises
    ------
    RuntimeError
        If the simulation stopped before ``n_samples`` samples completed.
    """
    build = Path(build_dir).resolve()
    with build_lock(build):
        hpath = build / f"{CONV_HARNESS_TOP}.sv"
        write_if_changed(hpath, conv_harness_verilog(design))
        exe = build_binary([Path(design.verilog).resolve(), hpath], top=CONV_HARNESS_TOP,
                           build_dir=build)
        lines = run_binary(exe, header=[n_samples, max_cycles, *readback_limits], words=events)
    return parse_harness_output(lines, readback_ports=len(readback_limits),
                                n_samples=n_samples, max_cycles=max_cycles, build=build)
