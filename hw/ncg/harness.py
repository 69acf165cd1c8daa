"""Free-running Verilator harness around :class:`spikesmith.hw.ncg.ncg_core.NCGCore`.

Python does not touch the simulation per clock cycle: the harness (SystemVerilog from
:func:`harness_verilog`) reads packed commands from a text file (``$fscanf``, one hex
payload per line) into the core's ``i`` stream, keeps ``o`` always ready and writes every
record (one hex payload per line, ``$fwrite``), then the cycle count (``c <cycles>``). It stops
after the expected number of records. The build and the cocotb launch are those of
:mod:`spikesmith.hw.common.verilator_harness`
(:func:`~spikesmith.hw.common.verilator_harness.build_sources`,
:func:`~spikesmith.hw.common.verilator_harness.run_free_running`).

Stimulus file: line 1 the number of records to wait for, line 2 a cycle limit, then the
command payloads in hex. Commands and records are those of the host model
(:mod:`spikesmith.hw.ncg.host`); the comparison is :mod:`spikesmith.verification.ncg`.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog

from spikesmith.sim.ncg import NCGParams

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
from .host import Command, Record, decode_records, pack_commands
from .ncg_core import NCGCore
from .ncg_streams import NCGWidths, ncg_command_layout, ncg_record_layout

__all__ = ["HARNESS_TOP", "NCGHarness", "NCGRun", "harness_verilog"]

#: Module name of the harness (the Verilator top level).
HARNESS_TOP = "ss_ncg_harness"
_CORE_TOP = "ncg_core"
#: Folders whose Python sources (the NCG gateware and the shared blocks it uses) key the
#: parameter-to-build memo.
_SOURCE_DIRS = (Path(__file__).parent, Path(__file__).parent.parent / "common")


def harness_verilog(widths: NCGWidths) -> str:
    """Return the SystemVerilog text of the harness for a core with ``widths``."""
    iw = ncg_command_layout(widths).size
    ow = ncg_record_layout(widths).size
    return "\n".join([
        *harness_prologue(top=HARNESS_TOP, in_width=iw),
        "  wire in_ready;",
        "  wire o_valid;",
        "  wire busy;",
        f"  wire [{ow - 1}:0] o_payload;",
        f"  {_CORE_TOP} dut(",
        "    .clk(clk), .rst(rst), .busy(busy),",
        "    .i__valid(in_valid), .i__payload(in_payload), .i__ready(in_ready),",
        "    .o__valid(o_valid), .o__payload(o_payload), .o__ready(1'b1)",
        "  );",
        *harness_open_files(),
        *harness_feed_input(),
        "      if (o_valid) begin",
        '        $fwrite(fd_out, "%h\\n", o_payload);',
        "        seen <= seen + 32'd1;",
        "      end",
        *harness_finish(finished="(seen == n_samples && !o_valid)",
                        timed_out="(seen != n_samples)"),
    ])


@dataclass(frozen=True)
class NCGRun:
    """Raw results of one harness run.

    Attributes
    ----------
    lines : list[str]
        Every output record as the fixed-width hex line the harness wrote, in order.
    cycles : int
        Cycles from reset release until the harness stopped.
    wall_s : float
        Wall time of the Verilator simulation (launch included), s.
    """

    lines: list[str]
    widths: NCGWidths
    cycles: int
    wall_s: float

    def records(self, start: int = 0, stop: int | None = None) -> list[Record]:
        """Decode the records ``start:stop``."""
        return decode_records([int(x, 16) for x in self.lines[start:stop]], self.widths)


class NCGHarness:
    """A Verilator build of :class:`NCGCore` for ``params`` inside the NCG harness.

    The build folder is ``build_root / <hash of the Verilog>``, so a configuration is compiled
    once and reused (also across processes; runs in one folder are serialised by a file lock).

    Parameters
    ----------
    params : NCGParams
        Core parameters.
    build_root : path-like
        Folder holding one build folder per distinct core.
    """

    def __init__(self, params: NCGParams, *, build_root: str | os.PathLike) -> None:
        self._params = params
        self._widths = NCGWidths(params)
        root = Path(build_root).resolve()
        # converting a large core takes seconds: remember which build a parameter set (and
        # this version of the gateware sources) maps to, keyed without converting
        srcs = "".join(f.read_text() for d in _SOURCE_DIRS for f in sorted(d.glob("*.py")))
        pkey = hashlib.sha256((repr(params) + srcs).encode()).hexdigest()[:24]
        memo = root / "params" / pkey
        build = root / memo.read_text().strip() if memo.is_file() else None
        if build is None or not (build / f"{_CORE_TOP}.v").is_file():
            text = verilog.convert(NCGCore(params), name=_CORE_TOP)
            build = root / f"ncg-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
            build.mkdir(parents=True, exist_ok=True)
            write_if_changed(build / f"{_CORE_TOP}.v", text)
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(build.name)
        self._build = build

    @property
    def widths(self) -> NCGWidths:
        """Widths of the core."""
        return self._widths

    @property
    def build_dir(self) -> Path:
        """The Verilator build folder."""
        return self._build

    def _write_sources(self) -> list[Path]:
        harness = self._build / f"{HARNESS_TOP}.sv"
        write_if_changed(harness, harness_verilog(self._widths))
        return [self._build / f"{_CORE_TOP}.v", harness]

    def run(self, commands: list[Command], *, n_records: int, max_cycles: int) -> NCGRun:
        """Build if needed, send ``commands``, and return the first ``n_records`` records.

        Raises
        ------
        RuntimeError
            If Verilator is unusable, or the harness stopped before ``n_records`` records.
        """
        words = pack_commands(commands, self._widths)
        with build_lock(self._build):
            build_sources(self._write_sources(), top=HARNESS_TOP, build_dir=self._build)
            t0 = time.perf_counter()
            lines = run_stimulus(self._build, top=HARNESS_TOP, header=[n_records, max_cycles],
                                 words=words)
            wall = time.perf_counter() - t0
        cycles = -1
        if lines and lines[-1].startswith("c "):
            cycles = int(lines.pop()[2:])
        if len(lines) != n_records:
            raise RuntimeError(
                f"the NCG harness stopped after {cycles} cycles with {len(lines)} of"
                f" {n_records} records (limit {max_cycles} cycles); see"
                f" {self._build / 'sim.log'}")
        return NCGRun(lines=lines, widths=self._widths, cycles=cycles, wall_s=wall)
