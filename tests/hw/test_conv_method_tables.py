# amaranth: UnusedElaboratable=no
"""ConvCore with a per-channel threshold table and a per-timestep input shift table (the
folded LTMD and TEBN of ``model.method_convnet``) in the Amaranth simulator, bit-exact against
sim.conv + sim.lif: emitted spikes and every membrane and neuron spike of every timestep."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conv_cases import make_config, random_input
from test_conv_core import run_core

from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.tables import bias_words, threshold_table
from spikesmith.sim.conv import conv_accumulator_bound, conv_synaptic_input, or_pool
from spikesmith.sim.lif import LIFState, ResetMode, lif_step


def with_tables(cfg: ConvCoreConfig, *, thresholds: tuple[int, ...], shifts: tuple[int, ...]
                ) -> ConvCoreConfig:
    """Return ``cfg`` with the tables and an accumulator that holds the shifted bound."""
    lif = dataclasses.replace(cfg.lif, threshold=max(thresholds) if thresholds else
                              cfg.lif.threshold, channel_thresholds=thresholds,
                              input_shifts=shifts)
    layer = dataclasses.replace(cfg.layer, lif=lif)
    bound = conv_accumulator_bound(layer, input_max=255 if cfg.input_bits > 1 else 1)
    acc = (bound << max(shifts, default=0)).bit_length() + 1
    return dataclasses.replace(cfg, layer=layer, acc_bits=acc)


def golden(cfg: ConvCoreConfig, x: np.ndarray):
    """``(emitted, neuron spikes, membranes)`` of sim.conv + sim.lif with ``t`` passed."""
    t_n, batch, _ = x.shape
    state = LIFState.zeros(batch=batch, n=cfg.layer.n_out)
    emitted, spikes, mems = [], [], []
    for t in range(t_n):
        s, state = lif_step(conv_synaptic_input(x[t], cfg.layer), state, cfg.lif, t=t)
        s = s.astype(np.uint8)
        spikes.append(s)
        mems.append(state.v)
        emitted.append(s if cfg.pool is None else or_pool(s, cfg.pool))
    return np.stack(emitted), np.stack(spikes), np.stack(mems)


CASES = {
    # spikes in, pooling, reset by subtraction, 3 channels over 2 lanes (a padded group)
    "spikes_pool2": (dict(kernel=3, padding=1, lanes=2, pool=2, threshold=6, seed=11),
                     (3, 9, 5), (2, 0, 3, 1)),
    # direct current in, reset to zero, one channel group
    "direct_zero": (dict(kernel=2, lanes=4, c_in=1, c_out=3, size=6, input_bits=8,
                         membrane_bits=18, threshold=700, seed=12, reset=ResetMode.ZERO),
                    (500, 900, 1300), (0, 1, 0, 2)),
    # each table alone (lt / ltmd: thresholds; tebn: shifts)
    "thresholds_only": (dict(kernel=3, padding=1, lanes=2, c_out=3, threshold=6, seed=13),
                        (2, 7, 4), ()),
    "shifts_only": (dict(kernel=3, padding=1, lanes=2, pool=2, threshold=6, seed=14),
                    (), (1, 3, 0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_core_tables_match_sim(case):
    kwargs, thresholds, shifts = CASES[case]
    cfg = with_tables(make_config(**kwargs), thresholds=thresholds, shifts=shifts)
    x = random_input(cfg, np.random.default_rng(7), timesteps=len(shifts) or 3, batch=2,
                     density=0.4)
    emitted, mem, spk = run_core(cfg, x)
    want_emitted, want_spk, want_mem = golden(cfg, x)
    assert want_spk.sum() > 0
    assert (mem.tolist(), spk.tolist()) == (want_mem.tolist(), want_spk.tolist())
    assert emitted.tolist() == want_emitted.tolist()


def test_tables_reference_is_sensitive():
    """The table changes the golden model, so the comparison above can fail."""
    kwargs, thresholds, shifts = CASES["spikes_pool2"]
    cfg = with_tables(make_config(**kwargs), thresholds=thresholds, shifts=shifts)
    flat = with_tables(make_config(**kwargs), thresholds=(), shifts=())
    x = random_input(cfg, np.random.default_rng(7), timesteps=4, batch=2, density=0.4)
    assert golden(cfg, x)[2].tolist() != golden(flat, x)[2].tolist()


def test_threshold_table_and_shifted_bias_words():
    cfg = with_tables(make_config(c_out=3, lanes=2, threshold=6, seed=1),
                      thresholds=(3, 9, 5), shifts=(2, 0))
    assert threshold_table(cfg) == [[3, 9], [5, 9]]
    plain = with_tables(make_config(c_out=3, lanes=2, threshold=6, seed=1), thresholds=(),
                        shifts=())
    assert threshold_table(plain) == [[6, 6], [6, 6]]
    sb, b = cfg.state_bits, cfg.bias
    lanes = [int(v) << 2 for v in b]
    mask = (1 << sb) - 1
    assert bias_words(cfg, shift=2) == [(lanes[0] & mask) | ((lanes[1] & mask) << sb),
                                        lanes[2] & mask]
