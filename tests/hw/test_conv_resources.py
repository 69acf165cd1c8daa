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
from spikesmith.hw.conv.conv_core import _order_words
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
    ((1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False), "ice40", 575, 505, 1, 0),
    ((1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False), "ecp5", 499, 364, 1, 0),
    ((1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False), "xc7", 262, 332, 1, 0),
    ((16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False), "ice40", 1838, 1916, 17, 0),
    ((16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False), "ecp5", 2133, 1582, 2, 1),
    ((16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False), "xc7", 1149, 1582, 2, 0),
    ((1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False), "ice40", 961, 957, 6, 2),
    ((1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False), "ecp5", 877, 759, 1, 2),
    ((1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False), "xc7", 524, 613, 1, 2),
]

#: Largest relative LUT / FF error the sweep measured per target (docs/estimates.md).
TOLERANCE = {"ice40": 0.10, "ecp5": 0.10, "xc7": 0.22}


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


def test_rom_width_counts_only_varying_bit_columns():
    plain = make_config(c_in=2, c_out=4, size=6, lanes=4)  # one group: base = position
    pooled = make_config(c_in=2, c_out=4, size=6, lanes=4, pool=2)
    for cfg, constant in ((plain, 3), (pooled, 1)):
        order = next(m for m in resources.conv_core_memories(cfg) if m.name == "order")
        # without pooling every position opens, closes and emits its own window; with a
        # 2x2 pool of a 6x6 map every window emits
        assert order.width == _order_words(cfg)[1]["emit"].stop - constant
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
