"""LIFCore in Verilator (cocotb runner, free-running harness): property tests against sim.lif.

Building is the expensive part (one Verilator build per variant, cached under
``build/rtl/lif_core/<variant>``), so hypothesis draws from a few built variants that cover the
axes (IF/LIF, reset zero/subtract, lanes 1/4/8, a padded last group, one group with
back-to-back read-after-write, a saturating narrow membrane, direct current with multipliers) and
varies the stimulus: samples, timesteps, input density, values and order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.hw.lif.generate import generate
from spikesmith.hw.lif.harness import run_harness
from spikesmith.hw.lif.host import pack_input_events
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, LIFState, NeuronModel, ResetMode, lif_step
from spikesmith.sim.network import DenseLayer, Trace
from spikesmith.verification.lif import compare

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "lif_core"


def _variant(name, *, n_in, n_out, lanes, input_bits, weight_bits, membrane_bits, threshold,
             model, leak_shift, reset, seed):
    rng = np.random.default_rng(seed)
    top = (1 << (weight_bits - 1)) - 1
    w = rng.integers(-top - 1, top + 1, size=(n_out, n_in))
    bound = (255 if input_bits == 8 else 1) * int(np.abs(w).sum(axis=1).max())
    lif = LIFParams(threshold=threshold, model=model, leak_shift=leak_shift, reset=reset,
                    membrane=FixedFormat(membrane_bits))
    return LIFCoreConfig(
        name=name, layer=DenseLayer(weights=w, weight_bits=weight_bits, lif=lif),
        acc_bits=bound.bit_length() + 1, input_bits=input_bits, lanes=lanes,
    )


VARIANTS = {
    # padded last group (10 neurons on 4 lanes), shift leak, reset by subtraction
    "lif_sub_p4": _variant("lif_sub_p4", n_in=24, n_out=10, lanes=4, input_bits=1,
                           weight_bits=4, membrane_bits=10, threshold=9,
                           model=NeuronModel.LIF, leak_shift=2, reset=ResetMode.SUBTRACT,
                           seed=1),
    # one group: every event re-reads the accumulator it just wrote; 6-bit membrane saturates
    "if_zero_p8_sat": _variant("if_zero_p8_sat", n_in=16, n_out=5, lanes=8, input_bits=1,
                               weight_bits=6, membrane_bits=6, threshold=20,
                               model=NeuronModel.IF, leak_shift=1, reset=ResetMode.ZERO,
                               seed=2),
    # direct current: weight x 8-bit value per lane, one lane, leak 1/2, reset to zero
    "lif_zero_p1_direct": _variant("lif_zero_p1_direct", n_in=12, n_out=6, lanes=1,
                                   input_bits=8, weight_bits=4, membrane_bits=14,
                                   threshold=900, model=NeuronModel.LIF, leak_shift=1,
                                   reset=ResetMode.ZERO, seed=3),
}


@pytest.fixture(scope="module")
def designs():
    out = {}
    for name, cfg in VARIANTS.items():
        out[name] = generate(NetworkConfig(cores=(cfg,), timesteps=1), BUILD / name / "design")
    return out


def _golden(cfg: LIFCoreConfig, x: np.ndarray) -> Trace:
    t_n, batch, _ = x.shape
    state = LIFState.zeros(batch=batch, n=cfg.n_out)
    spikes, mems = [], []
    for t in range(t_n):
        i = x[t].astype(np.int64) @ np.asarray(cfg.weights, np.int64).T
        s, state = lif_step(i, state, cfg.lif)
        spikes.append(s.astype(np.uint8))
        mems.append(state.v)
    s_all = np.stack(spikes)
    counts = s_all.sum(axis=0, dtype=np.int64)
    return Trace(inputs=x, spikes=(s_all,), membranes=(np.stack(mems),), counts=counts,
                 predictions=np.argmax(counts, axis=1))


def _run(design, cfg: LIFCoreConfig, x: np.ndarray, name: str):
    events = pack_input_events(design.manifest.cores[0], x)
    t_n, batch, _ = x.shape
    groups = cfg.groups
    run = run_harness(design, build_dir=BUILD / name / "sim", events=events, n_samples=batch,
                      readback_limits=[batch * t_n * groups],
                      max_cycles=100 + 4 * len(events) * groups + batch * t_n * 8 * (
                          groups + cfg.n_out + 8))
    return run


@pytest.mark.parametrize("name", sorted(VARIANTS))
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(1, 5),
    timesteps=st.integers(1, 6),
    density=st.sampled_from([0.0, 0.15, 0.5, 1.0]),
)
def test_lif_core_rtl_matches_sim_lif(designs, name, seed, batch, timesteps, density):
    cfg = VARIANTS[name]
    rng = np.random.default_rng(seed)
    mask = rng.random((timesteps, batch, cfg.n_in)) < density
    if cfg.input_bits == 1:
        x = mask.astype(np.uint8)
    else:
        x = (rng.integers(0, 256, size=mask.shape) * mask).astype(np.uint8)
    run = _run(designs[name], cfg, x, name)
    trace = _golden(cfg, x)
    cmp = compare(designs[name], trace, outputs=run.outputs, readback=run.readback,
                  membrane_samples=batch)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)


def test_lif_core_rtl_sustains_lanes_synaptic_ops_per_cycle(designs):
    """Dense input: each event costs G cycles, i.e. P synaptic operations per cycle."""
    name = "lif_sub_p4"
    cfg = VARIANTS[name]
    t_n, batch = 4, 2
    x = np.ones((t_n, batch, cfg.n_in), np.uint8)
    run = _run(designs[name], cfg, x, name)
    cmp = compare(designs[name], _golden(cfg, x), outputs=run.outputs, readback=run.readback,
                  membrane_samples=batch)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)
    groups = cfg.groups
    sops = t_n * batch * cfg.n_in * cfg.n_out
    cycles = run.sample_done_cycles[-1]
    # accumulate: G cycles per event, no bubbles; per timestep: drain, G-cycle neuron pass,
    # pipeline, one cycle per spike, marker
    assert cycles <= t_n * batch * (cfg.n_in * groups + 2 * groups + cfg.n_out + 12)
    assert sops / cycles >= 0.5 * cfg.lanes
