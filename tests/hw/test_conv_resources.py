"""Tests of hw.conv.resources: the analytic LUT/FF/BRAM/DSP model of the conv core and glue.

The Yosys 0.70 figures below were recorded by ``benchmarks/calibrate_conv_estimate.py`` (the
sweep of ``docs/estimates.md``, "Conv core"); the configurations are rebuilt from that script's
``make_config`` (same random weights), so no tool runs here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conv_cases import make_config

from spikesmith.hw.common.synth import Target
from spikesmith.hw.conv import resources
from spikesmith.hw.conv.network_config import ConvNetworkConfig
from spikesmith.hw.lif.estimate import MemoryShape
from spikesmith.sim.encoders import EncoderParams
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer, NetworkParams

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "calibrate_conv_estimate.py"


def _sweep():
    spec = importlib.util.spec_from_file_location("calibrate_conv_estimate", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: (case of the sweep, target, Yosys LUT, FF, BRAM, DSP)
RECORDED = [
    ((1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False), "ice40", 654, 607, 1, 0),
    ((1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False), "ecp5", 1162, 447, 0, 0),
    ((1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False), "xc7", 382, 441, 0, 0),
    ((16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False), "ice40", 1896, 1962, 18, 0),
    ((16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False), "ecp5", 3175, 1657, 1, 1),
    ((16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False), "xc7", 1803, 1659, 1, 0),
    ((1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False), "ice40", 1071, 1037, 5, 2),
    ((1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False), "ecp5", 972, 833, 1, 2),
    ((1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False), "xc7", 561, 678, 1, 2),
]

#: Largest relative LUT / FF error the sweep measured per target (docs/estimates.md).
TOLERANCE = {"ice40": 0.07, "ecp5": 0.12, "xc7": 0.16}


@pytest.mark.parametrize(("case", "target", "lut", "ff", "bram", "dsp"), RECORDED)
def test_conv_core_estimate_matches_recorded_yosys_counts(case, target, lut, ff, bram, dsp):
    cfg = _sweep().make_config(case)
    est = resources.estimate_conv_core(cfg, target=Target(target)).resources
    assert est.bram == bram
    assert est.dsp == dsp
    assert abs(est.lut - lut) <= TOLERANCE[target] * lut
    assert abs(est.ff - ff) <= TOLERANCE[target] * ff


@pytest.mark.parametrize(("memory", "target", "kind", "bram"), [
    # ROM cost 1/16 per bit on the iCE40: 800 bits stay in logic, 1728 take one block
    (MemoryShape("w", 50, 16, rom=True), Target.ICE40, "logic", 0),
    (MemoryShape("w", 216, 8, rom=True), Target.ICE40, "block", 1),
    # a tie (1024 bits at 1/16 = one 64-cost block) goes to logic
    (MemoryShape("w", 64, 16, rom=True), Target.ICE40, "logic", 0),
    # 1/64 on the xc7: 4608 bits stay in logic
    (MemoryShape("w", 72, 64, rom=True), Target.XC7, "logic", 0),
    (MemoryShape("w", 72, 64, rom=True), Target.ECP5, "block", 2),
    # distributed RAM pays for its read multiplexer in depth
    (MemoryShape("s", 48, 22), Target.ECP5, "distributed", 0),
    (MemoryShape("s", 64, 26), Target.ECP5, "block", 1),
    (MemoryShape("s", 128, 22), Target.XC7, "block", 1),
    (MemoryShape("q", 16, 14, sync_read=False), Target.ICE40, "logic", 0),
])
def test_memory_placement_follows_yosys(memory, target, kind, bram):
    m = resources.map_conv_memory(memory, target=target)
    assert m.kind == kind
    assert m.bram == bram


def test_memories_are_the_split_memory_parts_of_the_core():
    """The state of the mnist5k network's first core (1 152 words of 8 x 25 bits): 1 024 words
    of 198 bits in block RAM, their last 2 bits and the last 128 words in LUT RAM
    (``hw.common.mem.block_region``); LUT RAM where the target has it, Yosys's choice on the
    iCE40."""
    cfg = make_config(c_in=1, c_out=16, size=28, kernel=5, padding=0, lanes=8, pool=2,
                      input_bits=8, weight_bits=8, membrane_bits=24)
    state = {m.name: m for m in resources.conv_core_memories(cfg) if m.name.startswith("state")}
    assert {n: (m.depth, m.width) for n, m in state.items()} == {
        "state/block": (1024, 8 * cfg.state_bits - 2), "state/side": (1024, 2),
        "state/tail": (128, 8 * cfg.state_bits)}
    kinds = {t: resources.map_conv_memory(state["state/tail"], target=t).kind for t in Target}
    assert kinds[Target.ECP5] == kinds[Target.XC7] == "distributed"
    assert resources.map_conv_memory(state["state/block"], target=Target.ECP5).bram == 11
    assert resources._varying_bits([0b1010, 0b1000, 0b1110], 4) == 2


def test_tap_generator_constant_multiplier_is_priced_per_target():
    cfg = make_config(c_in=6, c_out=8, size=8, kernel=3, lanes=2)  # c: 3 bits, 9*4 = 36
    dsp = {t: resources.estimate_conv_core(cfg, target=t).resources.dsp for t in Target}
    assert dsp == {Target.ICE40: 0, Target.ECP5: 1, Target.XC7: 0}
    shift = make_config(c_in=6, c_out=8, size=8, kernel=1, padding=0, lanes=2)  # 1*1*4: shift
    assert resources.estimate_conv_core(shift, target=Target.ECP5).resources.dsp == 0


def test_network_estimate_adds_links_flatten_and_counter_to_the_cores():
    conv = make_config(c_in=1, c_out=4, size=8, kernel=3, padding=1, lanes=2, pool=2)
    params = NetworkParams(layers=(conv.layer, conv.pool, DenseLayer(
        weights=np.ones((3, 64), dtype=np.int64), weight_bits=4, lif=LIFParams(threshold=6))),
        timesteps=2, encoder=EncoderParams())
    net = ConvNetworkConfig.from_params(params, lanes=2)
    for target in Target:
        total = resources.estimate_conv_network(net, target=target)
        cores = [resources.estimate_layer(c, target=target) for c in net.cores]
        assert total.lut > sum(c.lut for c in cores)
        assert total.ff > sum(c.ff for c in cores) + 32
        # a 64-entry link FIFO of 8-bit events: a block on the iCE40 only
        fifo_blocks = 1 if target is Target.ICE40 else 0
        assert total.bram == sum(c.bram for c in cores) + fifo_blocks
        assert total.dsp == sum(c.dsp for c in cores)


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="ConvCoreConfig"):
        resources.estimate_conv_core(3, target=Target.ICE40)
    with pytest.raises(TypeError, match="Target"):
        resources.estimate_conv_core(make_config(), target="ice40")
    with pytest.raises(TypeError, match="ConvNetworkConfig"):
        resources.estimate_conv_network(3, target=Target.ICE40)
