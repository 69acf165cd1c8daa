"""Free-running Verilator harness around a generated first-spike top
(:class:`~spikesmith.hw.lif.first_spike.FirstSpikeNetwork`).

Like :mod:`spikesmith.hw.lif.harness`, it streams the host's input words from a stimulus file
into ``i``. While the top raises ``skip`` the harness is the host that drops the rest of the
decided sample: it reads past that sample's words to its last marker in one cycle and presents
that marker, which the top accepts. The output file holds every output event (``o <hex>``),
every decision word (``k <hex>``) with the cycle it appeared (``d <cycle>``), and the final
cycle count (``c <cycle>``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..common.streams import unpack
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
from .first_spike import decision_layout
from .generate import GeneratedDesign

__all__ = ["FS_HARNESS_TOP", "FirstSpikeRun", "first_spike_harness_verilog",
           "run_first_spike_harness"]

#: Module name of the harness (the Verilator top level).
FS_HARNESS_TOP = "ss_fs_harness"


def _feed(in_width: int) -> list[str]:
    """The clocked block's input side: the shared feed (``harness_feed_input``), with a first
    branch that, while ``skip``, reads past the decided sample's words to its last marker."""
    is_last = f"word[{in_width - 2}] && word[{in_width - 1}]"
    held_last = f"in_payload[{in_width - 2}] && in_payload[{in_width - 1}]"
    feed = harness_feed_input()
    normal = "      if ((!in_valid || in_ready) && !in_eof) begin"
    k = feed.index(normal)
    feed[k:k + 1] = [
        f"      if (skip && in_valid && !({held_last}) && !in_eof) begin",
        '        code = $fscanf(fd_in, "%h\\n", word);',
        f"        while (code == 1 && !({is_last}))",
        '          code = $fscanf(fd_in, "%h\\n", word);',
        "        in_payload <= word;",
        "      end else " + normal.lstrip(),
    ]
    return [
        *feed,
        "      if (o_valid) $fwrite(fd_out, \"o %h\\n\", o_payload);",
        "      if (k_valid) begin",
        '        $fwrite(fd_out, "k %h\\n", k_payload);',
        '        $fwrite(fd_out, "d %0d\\n", cycles);',
        "        seen <= seen + 32'd1;",
        "      end",
    ]


def first_spike_harness_verilog(design: GeneratedDesign) -> str:
    """Return the SystemVerilog text of the harness for a first-spike ``design``."""
    mf = design.manifest
    iw, ow = mf.port("i__payload").width, mf.port("o__payload").width
    kw = mf.port("decision__payload").width
    lines = [
        *harness_prologue(top=FS_HARNESS_TOP, in_width=iw),
        "  wire in_ready, o_valid, k_valid, skip, busy;",
        f"  wire [{ow - 1}:0] o_payload;",
        f"  wire [{kw - 1}:0] k_payload;",
        "  wire [31:0] samples_done;",
    ]
    conns = [
        ".clk(clk)", ".rst(rst)",
        ".i__valid(in_valid)", ".i__payload(in_payload)", ".i__ready(in_ready)",
        ".o__valid(o_valid)", ".o__payload(o_payload)",
        ".decision__valid(k_valid)", ".decision__payload(k_payload)", ".skip(skip)",
        ".samples_done(samples_done)", ".busy(busy)",
    ]
    lines += [f"  {design.top} dut(", "    " + ",\n    ".join(conns), "  );"]
    lines += harness_open_files()
    lines += _feed(iw)
    lines += harness_finish(finished="seen == n_samples", timed_out="(seen != n_samples)")
    return "\n".join(lines)


@dataclass(frozen=True)
class FirstSpikeRun:
    """Results of one first-spike harness run.

    Attributes
    ----------
    classes, steps, fired : list[int]
        Per sample, the decision word's fields (class, timesteps needed, any output spike).
    decision_cycles : list[int]
        Cycle (after reset) at which each sample's decision appeared.
    outputs : list[int]
        Output-stream payloads in order (including events after a decision).
    cycles : int
        Cycles until the harness stopped.
    """

    classes: list[int]
    steps: list[int]
    fired: list[int]
    decision_cycles: list[int]
    outputs: list[int]
    cycles: int

    @property
    def cycles_per_sample(self) -> list[int]:
        """Cycles each sample took: from the previous decision (or reset) to its own."""
        prev = [0, *self.decision_cycles[:-1]]
        return [d - p for d, p in zip(self.decision_cycles, prev, strict=True)]


def run_first_spike_harness(design: GeneratedDesign, *, build_dir: str | os.PathLike,
                            events: list[int], n_samples: int,
                            max_cycles: int) -> FirstSpikeRun:
    """Build (if needed) and run the first-spike harness on packed input ``events``
    (``hw.lif.host.pack_input_events``).

    Raises
    ------
    RuntimeError
        If fewer than ``n_samples`` decisions appeared within ``max_cycles``.
    """
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    with build_lock(build):
        hpath = build / f"{FS_HARNESS_TOP}.sv"
        write_if_changed(hpath, first_spike_harness_verilog(design))
        build_sources([Path(design.verilog).resolve(), hpath], top=FS_HARNESS_TOP,
                      build_dir=build)
        lines = run_stimulus(build, top=FS_HARNESS_TOP, header=[n_samples, max_cycles],
                             words=events)
    last = design.manifest.cores[-1]
    lay = decision_layout(last.n_out, design.manifest.timesteps)
    words, done, outputs, cycles = [], [], [], -1
    for line in lines:
        tag, _, val = line.partition(" ")
        if tag == "k":
            words.append(unpack(lay, int(val, 16)))
        elif tag == "d":
            done.append(int(val))
        elif tag == "o":
            outputs.append(int(val, 16))
        elif tag == "c":
            cycles = int(val)
    if len(done) != n_samples:
        raise RuntimeError(f"the first-spike harness stopped after {cycles} cycles with "
                           f"{len(done)} of {n_samples} decisions (limit {max_cycles}); see "
                           f"{build / 'sim.log'}")
    return FirstSpikeRun(classes=[w["index"] for w in words], steps=[w["steps"] for w in words],
                         fired=[w["fired"] for w in words], decision_cycles=done,
                         outputs=outputs, cycles=cycles)
