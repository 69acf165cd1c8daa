"""Free-running Verilator harness around the recurrent core, moving data in bulk.

The harness (SystemVerilog from :func:`harness_verilog`, with the shared pieces of
:mod:`spikesmith.hw.common.verilator_harness`) reads the command words from a file, keeps
every output stream ready and writes each record (``n``, ``w``, ``s`` lines; status records
with the cycle they appeared at), then the cycle count; Python never runs per clock. The words
are those of the host model (:mod:`spikesmith.hw.recurrent.host`); the comparison is
:mod:`spikesmith.verification.recurrent`.

Stimulus file: line 1 the number of command words, line 2 a cycle limit, then the words in hex.
"""

from __future__ import annotations

import os
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Const, Value

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
from .host import CoreRecords, layouts
from .recurrent_core import RecurrentCore, RecurrentCoreConfig

__all__ = ["HARNESS_TOP", "build_recurrent_harness", "harness_verilog", "run_recurrent_harness"]

#: Module name of the recurrent core's Verilator harness.
HARNESS_TOP = "ss_recurrent_harness"
_CORE_TOP = "recurrent_core"


def harness_verilog(config: RecurrentCoreConfig) -> str:
    """Return the SystemVerilog harness around the core (module :data:`HARNESS_TOP`)."""
    lay = layouts(config)
    cw, nw, ww, sw = lay.command.size, lay.neuron.size, lay.weight.size, lay.status.size
    return "\n".join([
        *harness_prologue(top=HARNESS_TOP, in_width=cw),
        "  wire in_ready, busy, n_valid, w_valid, s_valid;",
        f"  wire [{nw - 1}:0] n_payload;",
        f"  wire [{ww - 1}:0] w_payload;",
        f"  wire [{sw - 1}:0] s_payload;",
        "  wire [15:0] decay_reg;",
        f"  {_CORE_TOP} dut(",
        "    .clk(clk), .rst(rst),",
        "    .cmd__valid(in_valid), .cmd__payload(in_payload), .cmd__ready(in_ready),",
        "    .neurons__valid(n_valid), .neurons__payload(n_payload),",
        "    .weights__valid(w_valid), .weights__payload(w_payload),",
        "    .status__valid(s_valid), .status__payload(s_payload),",
        "    .busy(busy), .decay_reg(decay_reg)",
        "  );",
        *harness_open_files(),
        *harness_feed_input(count_accepted=True),
        '      if (n_valid) $fwrite(fd_out, "n %h\\n", n_payload);',
        '      if (w_valid) $fwrite(fd_out, "w %h\\n", w_payload);',
        '      if (s_valid) $fwrite(fd_out, "s %h %0d\\n", s_payload, cycles);',
        *harness_finish(finished="(in_eof && !in_valid && !busy)",
                        timed_out="!(in_eof && !in_valid && !busy)"),
    ])


def build_recurrent_harness(config: RecurrentCoreConfig, build_dir: str | os.PathLike) -> Path:
    """Write the core's Verilog and the harness into ``build_dir`` and compile them.

    Files are rewritten only when their text changes, so Verilator and make redo no work for a
    configuration built before.

    Raises
    ------
    RuntimeError
        If Verilator is unusable here.
    """
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    core_v = build / f"{_CORE_TOP}.v"
    core = RecurrentCore(config)
    # constant members (the always-ready streams' ready) are not ports
    ports = [Value.cast(v) for _, _, v in core.signature.flatten(core)
             if not isinstance(v, Const)]
    write_if_changed(core_v, verilog.convert(core, name=_CORE_TOP, ports=ports,
                                              emit_src=False))
    hpath = build / f"{HARNESS_TOP}.sv"
    write_if_changed(hpath, harness_verilog(config))
    return build_sources([core_v, hpath], top=HARNESS_TOP, build_dir=build)


def run_recurrent_harness(config: RecurrentCoreConfig, words: list[int], *,
                          build_dir: str | os.PathLike, max_cycles: int) -> CoreRecords:
    """Build (if needed) and run the harness on command ``words``; return the records.

    Raises
    ------
    RuntimeError
        If the run did not finish within ``max_cycles``.
    """
    build = Path(build_dir).resolve()
    with build_lock(build):
        return _run_locked(config, words, build, max_cycles)


def _run_locked(config: RecurrentCoreConfig, words: list[int], build: Path,
                max_cycles: int) -> CoreRecords:
    build_recurrent_harness(config, build)
    lines = run_stimulus(build, top=HARNESS_TOP, header=[len(words), max_cycles], words=words)
    neurons, weights, status, scyc = [], [], [], []
    cycles = -1
    for line in lines:
        tag, *vals = line.split()
        if tag == "n":
            neurons.append(int(vals[0], 16))
        elif tag == "w":
            weights.append(int(vals[0], 16))
        elif tag == "s":
            status.append(int(vals[0], 16))
            scyc.append(int(vals[1]))
        elif tag == "c":
            cycles = int(vals[0])
    if cycles < 0 or cycles >= max_cycles:
        raise RuntimeError(f"the recurrent harness did not finish within {max_cycles} cycles; "
                           f"see {build / 'sim.log'}")
    return CoreRecords(neurons, weights, status, scyc, cycles)
