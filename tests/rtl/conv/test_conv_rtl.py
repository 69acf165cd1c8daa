"""ConvCore in Verilator (cocotb runner, free-running harness) against sim.conv + sim.lif.

Every output event of every timestep (pooled when the core pools) and every membrane and
neuron spike of every timestep (readback) are compared with ``==``. Building is the expensive
part (one Verilator build per variant, cached under ``build/rtl/conv/<variant>``), so
hypothesis draws the stimulus (samples, timesteps, density, order) for a few built variants
that cover the axes (kernel 1..5, stride 1..2, padding 0..K-1, channels 1..4, lanes 1/2/4,
image 6..12, pooling 2/3 or none, IF/LIF, both resets, a saturating membrane, direct current),
plus a layer of seeded random shape (the Amaranth benches draw many more shapes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conv_cases import golden, make_config, model_marker_cycles, random_input
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.hw.conv.generate import generate_conv_core
from spikesmith.hw.conv.harness import run_conv_harness
from spikesmith.hw.conv.host import decode_feature_events, decode_readback, pack_feature_events
from spikesmith.hw.lif.host import events_to_spikes
from spikesmith.sim.lif import NeuronModel, ResetMode

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "conv"

VARIANTS = {
    # 5x5 kernel, 'same' padding, 4 lanes over 4 channels, 2x2 pooling, reset by subtraction
    "k5_s1_p2_pool2_l4": dict(c_in=2, c_out=4, size=10, kernel=5, stride=1, padding=2,
                              lanes=4, pool=2, threshold=8, seed=11),
    # stride 2 (rows reaching no output), one lane, IF, reset to zero, saturating 6 bits
    "k3_s2_p1_l1_if_sat": dict(c_in=3, c_out=3, size=9, kernel=3, stride=2, padding=1,
                               lanes=1, model=NeuronModel.IF, reset=ResetMode.ZERO,
                               membrane_bits=6, threshold=9, seed=12),
    # 1x1 kernel, direct current (multipliers), padded last group, 3x3 pooling dropping a row
    "k1_direct_pool3_l2": dict(c_in=1, c_out=3, size=7, kernel=1, stride=1, padding=0,
                               lanes=2, pool=3, input_bits=8, membrane_bits=16,
                               threshold=900, seed=13),
}


def _config(name):
    return make_config(**VARIANTS[name], name=name)


@pytest.fixture(scope="module")
def cores():
    return {name: generate_conv_core(_config(name), BUILD / name / "design") for name in VARIANTS}


def run_rtl(core, x, name):
    """Run ``x`` ``(T, batch, n_in)`` in Verilator; return ``(emitted, membranes, spikes,
    run)``."""
    cfg = core.config
    t_n, batch, _ = x.shape
    events = pack_feature_events(cfg, x)
    n_records = batch * t_n * cfg.state_words
    taps = cfg.kernel * cfg.kernel * cfg.groups
    run = run_conv_harness(core, build_dir=BUILD / name / "sim", events=events,
                           n_samples=batch, readback_limits=[n_records],
                           max_cycles=1000 + len(events) * taps
                           + batch * t_n * 2 * (cfg.state_words + math.prod(cfg.emit_shape)))
    emitted = events_to_spikes(decode_feature_events(cfg.emit_shape, run.outputs),
                               n=math.prod(cfg.emit_shape), timesteps=t_n, batch=batch)
    mem, spk = decode_readback(cfg, run.readback[0], samples=batch, timesteps=t_n)
    return emitted, mem, spk, run


@pytest.mark.parametrize("name", sorted(VARIANTS))
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(1, 3),
    timesteps=st.integers(1, 5),
    density=st.sampled_from([0.0, 0.1, 0.4, 1.0]),
)
def test_conv_core_rtl_matches_sim_conv(cores, name, seed, batch, timesteps, density):
    core = cores[name]
    x = random_input(core.config, np.random.default_rng(seed), timesteps=timesteps,
                     batch=batch, density=density)
    emitted, mem, spk, run = run_rtl(core, x, name)
    exp_emit, exp_s, exp_v = golden(core.config, x)
    assert emitted.tolist() == exp_emit.tolist()
    assert spk.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()
    # the cycle model is exact (the harness counts one cycle before the first acceptance)
    markers = model_marker_cycles(core.config, x)
    assert run.sample_done_cycles == [markers[(b + 1) * timesteps - 1] + 1 for b in range(batch)]


def test_conv_core_rtl_bench_catches_an_off_by_one_reference(cores):
    """The checker is checked: the same run against a reference whose synaptic input is off
    by one must mismatch (membranes at least)."""
    name = "k5_s1_p2_pool2_l4"
    core = cores[name]
    x = random_input(core.config, np.random.default_rng(1), timesteps=3, batch=1, density=0.3)
    _, mem, _, _ = run_rtl(core, x, name)
    assert mem.tolist() == golden(core.config, x)[2].tolist()
    assert mem.tolist() != golden(core.config, x, bias_offset=1)[2].tolist()


def test_conv_core_rtl_sustains_lanes_synaptic_ops_per_cycle(cores):
    """Dense input: each event costs taps * G cycles, P synaptic operations each."""
    name = "k5_s1_p2_pool2_l4"
    core = cores[name]
    cfg = core.config
    t_n, batch = 3, 1
    x = np.ones((t_n, batch, math.prod(cfg.in_shape)), np.uint8)
    emitted, mem, spk, run = run_rtl(core, x, name)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert (emitted.tolist(), spk.tolist(), mem.tolist()) == (
        exp_emit.tolist(), exp_s.tolist(), exp_v.tolist())
    c_in, h, w = cfg.in_shape
    _, ho, wo = cfg.out_shape
    # every (input, tap) pair that reaches an output is one update of P channels
    reach = sum(1 for y in range(h) for ky in range(cfg.kernel)
                if 0 <= y + cfg.padding - ky < ho) * sum(
        1 for xx in range(w) for kx in range(cfg.kernel) if 0 <= xx + cfg.padding - kx < wo)
    sops = t_n * c_in * reach * cfg.out_shape[0]
    cycles = run.sample_done_cycles[-1]
    ops_per_cycle = sops / cycles
    print(f"{name}: {sops} synaptic ops in {cycles} cycles = {ops_per_cycle:.2f}/cycle "
          f"({ops_per_cycle / cfg.lanes:.2f} per lane)")
    assert ops_per_cycle >= 0.75 * cfg.lanes


def random_layer(rng: np.random.Generator, name: str):
    """Return a conv core of random shape: kernel 1..5, stride 1..2, padding 0..K-1, channels
    1..4, image 4..12, lanes 1/2/4, pooling none/2/3, either neuron model and reset."""
    while True:
        kernel, stride = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        padding, size = int(rng.integers(0, kernel)), int(rng.integers(4, 13))
        out = (size + 2 * padding - kernel) // stride + 1
        pool = [None, 2, 3][int(rng.integers(0, 3))]
        if out >= 1 and (pool is None or pool <= out):
            break
    return make_config(c_in=int(rng.integers(1, 5)), c_out=int(rng.integers(1, 5)), size=size,
                       kernel=kernel, stride=stride, padding=padding,
                       lanes=int(rng.choice([1, 2, 4])), pool=pool,
                       reset=list(ResetMode)[int(rng.integers(0, 2))],
                       model=list(NeuronModel)[int(rng.integers(0, 2))], threshold=2,
                       seed=int(rng.integers(0, 1000)), name=name)


@pytest.mark.parametrize("shape_seed", [1])
def test_conv_core_rtl_random_shapes_match_sim_conv(shape_seed):
    """A seeded random layer shape, its own Verilator build (one per run: builds are the
    slow part; the Amaranth benches draw many more shapes)."""
    name = f"random{shape_seed}"
    rng = np.random.default_rng(1000 + shape_seed)
    cfg = random_layer(rng, name)
    core = generate_conv_core(cfg, BUILD / name / "design")
    x = random_input(cfg, rng, timesteps=4, batch=2, density=0.5)
    emitted, mem, spk, _ = run_rtl(core, x, name)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert exp_s.sum() > 0
    assert (emitted.tolist(), spk.tolist(), mem.tolist()) == (
        exp_emit.tolist(), exp_s.tolist(), exp_v.tolist())
