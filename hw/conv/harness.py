"""Free-running Verilator harness around one generated conv core, for bulk verification.

The harness (SystemVerilog from :func:`conv_harness_verilog`, assembled from the shared pieces
of :mod:`spikesmith.hw.common.verilator_harness`) reads the host's event words into the core's
``i`` stream, keeps ``o`` always ready, and writes every output event (``o <hex>``), the first
readback records (``r0 <hex>``) and the cycle at which each sample's last marker appeared
(``d <cycle>``). The words are those of the host model (:mod:`.host`); the raw results come
back as the dense harness's :class:`~spikesmith.hw.lif.harness.HarnessRun`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..common.verilator_harness import (
    build_lock,
    build_sources,
    harness_feed_input,
    harness_finish,
    harness_open_files,
    harness_prologue,
    run_stimulus,
    write_if_changed,
)
from ..lif.harness import HarnessRun, parse_harness_output
from .generate import GeneratedConvCore

__all__ = ["CONV_HARNESS_TOP", "conv_harness_verilog", "run_conv_harness"]

#: Module name of the harness (the Verilator top level).
CONV_HARNESS_TOP = "ss_conv_harness"


def conv_harness_verilog(core: GeneratedConvCore) -> str:
    """Return the SystemVerilog text of the harness around ``core``."""
    iw, ow = core.ports["i__payload"], core.ports["o__payload"]
    rbw = core.ports["readback__payload"]
    # the output payload is a feature event: c, y, x, then eot, then last (.streams)
    eot_bit, last_bit = ow - 2, ow - 1
    conns = [
        ".clk(clk)", ".rst(rst)", ".clear(1'b0)",
        ".i__valid(in_valid)", ".i__payload(in_payload)", ".i__ready(in_ready)",
        ".o__valid(o_valid)", ".o__payload(o_payload)", ".o__ready(1'b1)",
        ".readback__valid(rb_valid)", ".readback__payload(rb_payload)", ".busy(busy)",
    ]
    lines = [
        *harness_prologue(top=CONV_HARNESS_TOP, in_width=iw),
        "  wire in_ready;",
        "  wire o_valid;",
        f"  wire [{ow - 1}:0] o_payload;",
        "  wire rb_valid;",
        f"  wire [{rbw - 1}:0] rb_payload;",
        "  wire busy;",
        "  reg [31:0] rb_limit = 32'd0;",
        "  reg [31:0] rb_count = 32'd0;",
        f"  {core.top} dut(",
        "    " + ",\n    ".join(conns),
        "  );",
        *harness_open_files(extra_reads=["rb_limit"]),
        *harness_feed_input(),
        "      if (o_valid) begin",
        '        $fwrite(fd_out, "o %h\\n", o_payload);',
        f"        if (o_payload[{eot_bit}] && o_payload[{last_bit}]) begin",
        '          $fwrite(fd_out, "d %0d\\n", cycles);',
        "          seen <= seen + 32'd1;",
        "        end",
        "      end",
        "      if (rb_valid && rb_count < rb_limit) begin",
        '        $fwrite(fd_out, "r0 %h\\n", rb_payload);',
        "        rb_count <= rb_count + 32'd1;",
        "      end",
        *harness_finish(finished="seen == n_samples", timed_out="(seen != n_samples)"),
    ]
    return "\n".join(lines)


def run_conv_harness(core: GeneratedConvCore, *, build_dir: str | os.PathLike,
                     events: list[int], n_samples: int, readback_limit: int,
                     max_cycles: int) -> HarnessRun:
    """Build (if needed) and run the harness on packed input ``events``.

    Parameters
    ----------
    events : list[int]
        Input payloads (:func:`.host.pack_feature_events`), markers included.
    n_samples : int
        Samples in ``events`` (markers with ``last``).
    readback_limit : int
        How many readback records to write (the first ones).
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
        write_if_changed(hpath, conv_harness_verilog(core))
        build_sources([Path(core.verilog).resolve(), hpath], top=CONV_HARNESS_TOP,
                      build_dir=build)
        lines = run_stimulus(build, top=CONV_HARNESS_TOP,
                             header=[n_samples, max_cycles, readback_limit], words=events)
    return parse_harness_output(lines, readback_ports=1, n_samples=n_samples,
                                max_cycles=max_cycles, build=build)
