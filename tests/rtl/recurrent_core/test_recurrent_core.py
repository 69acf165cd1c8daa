"""cocotb + Verilator bench of the recurrent STDP / sleep core against ``sim.recurrent_net``.

Real mnist5k training images resized to 15×15 (``spikesmith.sleep_study.resize_area``, as the
study does) drive a 225-input network of 20 excitatory and 5 inhibitory neurons (the study has
200 + 50; fewer neurons keep the bench within CI time) with the default neuron, STDP and sleep
constants, through two wake/sleep cycles. Spikes, membranes, ``y`` and ``a`` of every neuron
are compared at every step, every weight after every wake block and sleep episode, and every
status record (group sums after each decay batch, episode lengths). The harness is the
free-running one of :mod:`spikesmith.hw.recurrent.harness` (command words from
:mod:`spikesmith.hw.recurrent.host`): commands go in as one file and records come back as one
file; :mod:`spikesmith.verification.recurrent` compares. A hypothesis test varies images,
schedule and LFSR seeds on the same build, and a perturbed reference must be reported. A third
test programs other neuron, STDP, bound, noise and decay parameters and new weights through
``SET`` on the same build and reads the neurons back.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.datasets import load_dataset
from spikesmith.hw.common.verilator_harness import default_build_dir
from spikesmith.hw.recurrent.harness import run_recurrent_harness
from spikesmith.hw.recurrent.host import (
    SleepEpisode,
    WakeBlock,
    commands,
    reseed_commands,
    set_commands,
)
from spikesmith.hw.recurrent.recurrent_core import RecurrentCoreConfig
from spikesmith.hw.recurrent.recurrent_params import parameter_writes, weight_writes
from spikesmith.sim.recurrent import NeuronParams, regroup
from spikesmith.sim.recurrent_net import NetConfig, init_network, sleep_budget
from spikesmith.sim.stdp import StdpPolarity
from spikesmith.sleep_study import resize_area
from spikesmith.verification.recurrent import compare, golden_trace

pytestmark = pytest.mark.rtl

N_EXC, N_INH, SIDE = 20, 5, 15
MAX_CYCLES = 20_000_000


def _config() -> RecurrentCoreConfig:
    cfg = NetConfig(neuron=NeuronParams(n_input=SIDE * SIDE, n_exc=N_EXC, n_inh=N_INH), seed=0)
    conn, state = init_network(cfg)
    return RecurrentCoreConfig(cfg, conn, state)


def _images(lo: int, hi: int) -> np.ndarray:
    d = load_dataset("mnist5k")
    return resize_area(d.x_train[lo:hi], shape=d.shape, size=SIDE)


def test_recurrent_core_bit_exact_on_mnist_through_two_wake_sleep_cycles():
    config = _config()
    cfg = config.net
    budget = sleep_budget(cfg, ratio=0.25, wake_steps=2 * cfg.steps_per_image)
    images = _images(0, 4)
    schedule = (WakeBlock(images[:2]), SleepEpisode(budget),
                WakeBlock(images[2:]), SleepEpisode(budget))
    trace = golden_trace(config, schedule)
    records = run_recurrent_harness(config, commands(config, schedule),
                                    build_dir=default_build_dir("recurrent_core_mnist"),
                                    max_cycles=MAX_CYCLES)
    cmp = compare(config, trace, records)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)
    sleeping = np.isin(trace.step_item, [1, 3])
    assert trace.spikes[~sleeping].any() and trace.spikes[sleeping].any()
    assert not np.array_equal(trace.weights[1], trace.weights[0])  # sleep changed weights

    # the checker is checked: a perturbed reference is reported with its first mismatch
    conn = config.conn
    doubled = replace(conn, target=np.where(conn.group == 0, conn.target * 2, conn.target))
    cmp = compare(config, golden_trace(config, schedule, conn=doubled), records)
    assert cmp.mismatches > 0
    assert cmp.first_mismatch.startswith("weights after schedule item 1, synapse ")
    assert cmp.first.position("weights after schedule item") == 1
    m = config.state.m.copy()
    i, j = np.argwhere(conn.mask)[0]
    m[i, j] -= 1
    cmp = compare(config, golden_trace(config, schedule, state=replace(config.state, m=m)),
                  records)
    assert cmp.mismatches > 0
    assert cmp.first_mismatch.startswith("weights after schedule item 0, synapse 0 (pre ")


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.integers(0, 3990), n_images=st.integers(1, 2), sleeps=st.integers(0, 4),
       seed=st.integers(0, 2**32 - 1), reseed=st.booleans())
def test_recurrent_core_bit_exact_on_random_schedules(first, n_images, sleeps, seed, reseed):
    config = _config()
    cfg = config.net
    rng = np.random.default_rng(seed)
    k = cfg.sleep.decay_period
    images = _images(first, first + 2 * n_images)
    schedule = (WakeBlock(images[:n_images]), SleepEpisode(k * sleeps),
                WakeBlock(rng.integers(0, 256, (1, SIDE * SIDE))), SleepEpisode(k))
    words = commands(config, schedule)
    start = config.state
    if reseed:
        start = replace(start, input_regs=rng.integers(1, 1 << 24, SIDE * SIDE),
                        noise_regs=rng.integers(1, 1 << 24, N_EXC + N_INH),
                        decay_reg=int(rng.integers(1, 1 << 16)))
        words = reseed_commands(config, start) + words
    records = run_recurrent_harness(config, words,
                                    build_dir=default_build_dir("recurrent_core_mnist"),
                                    max_cycles=MAX_CYCLES)
    cmp = compare(config, golden_trace(config, schedule, state=start), records)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)


def test_recurrent_core_runs_parameters_and_weights_set_by_the_host():
    config = _config()
    cfg = config.net
    p = cfg.neuron
    groups = {g: replace(spec, hi=spec.hi // 2, init=spec.init * 3 // 4, target=spec.target * 3)
              for g, spec in p.groups.items()}
    new = replace(
        cfg,
        neuron=replace(p, theta0=12 * 256, theta_max=60 * 256, v_reset=-5 * 256,
                       adapt_inc=2 * 256, gain=24, groups=groups),
        stdp=replace(cfg.stdp, a_minus=1.0, tau_plus=5.0,
                     polarity=StdpPolarity.AUTHORS_REVERSED),
        sleep=replace(cfg.sleep, noise_gain=100, tol_shift=8, decay_period=4))
    m = regroup(config.conn, new.neuron).init
    budget = sleep_budget(new, ratio=0.25, wake_steps=cfg.steps_per_image)
    images = _images(10, 12)
    schedule = (WakeBlock(images[:1]), SleepEpisode(budget),
                WakeBlock(images[1:]), SleepEpisode(budget))
    words = (set_commands(config, parameter_writes(config, net=new) + weight_writes(config, m))
             + commands(config, schedule, dump_neurons=True))
    records = run_recurrent_harness(config, words,
                                    build_dir=default_build_dir("recurrent_core_mnist"),
                                    max_cycles=MAX_CYCLES)
    start = replace(config.state, m=m)
    trace = golden_trace(config, schedule, net=new, state=start)
    cmp = compare(config, trace, records, dump_neurons=True)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)
    assert trace.spikes.any()
    # the programmed parameters changed the run: the build's own would differ
    cmp = compare(config, golden_trace(config, schedule, state=start), records,
                  dump_neurons=True)
    assert cmp.mismatches > 0 and cmp.first_mismatch.startswith("step ")
