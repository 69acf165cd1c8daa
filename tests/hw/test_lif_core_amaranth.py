# amaranth: UnusedElaboratable=no
"""LIFCore in the Amaranth simulator: bit-exact against sim.lif for a few timesteps."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.hw.common.testing import run_scenario, stream_collect, stream_get, stream_put
from spikesmith.hw.lif.config import LIFCoreConfig
from spikesmith.hw.lif.host import events_to_spikes, input_events
from spikesmith.hw.lif.lif_core import LIFCore, pack_weight_words
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, LIFState, NeuronModel, ResetMode, lif_step
from spikesmith.sim.network import DenseLayer


def make_config(*, n_in, n_out, lanes, input_bits=1, weight_bits=4, membrane_bits=10,
                threshold=12, model=NeuronModel.LIF, leak_shift=2, reset=ResetMode.SUBTRACT,
                seed=0):
    rng = np.random.default_rng(seed)
    top = (1 << (weight_bits - 1)) - 1
    w = rng.integers(-top - 1, top + 1, size=(n_out, n_in))
    in_max = 255 if input_bits == 8 else 1
    bound = in_max * int(np.abs(w).sum(axis=1).max())
    lif = LIFParams(threshold=threshold, model=model, leak_shift=leak_shift, reset=reset,
                    membrane=FixedFormat(membrane_bits))
    return LIFCoreConfig(
        name="core",
        layer=DenseLayer(weights=w, weight_bits=weight_bits, lif=lif),
        acc_bits=bound.bit_length() + 1,
        input_bits=input_bits,
        lanes=lanes,
    )


def golden(cfg: LIFCoreConfig, x: np.ndarray):
    t_n, batch, _ = x.shape
    state = LIFState.zeros(batch=batch, n=cfg.n_out)
    spikes, mems = [], []
    for t in range(t_n):
        i = x[t].astype(np.int64) @ cfg.weights.T.astype(np.int64)
        s, state = lif_step(i, state, cfg.lif)
        spikes.append(s.astype(np.uint8))
        mems.append(state.v)
    return np.stack(spikes), np.stack(mems)


def run_core(cfg: LIFCoreConfig, x: np.ndarray, tmp_path, *, throttle=False):
    dut = LIFCore(cfg)
    t_n, batch, _ = x.shape
    events = input_events(x)
    out_events: list[tuple[int, int, int]] = []
    records: list = []

    async def producer(ctx):
        for k, (index, value, eot, last) in enumerate(events):
            payload = {"index": index, "eot": eot, "last": last}
            if cfg.input_bits > 1:
                payload["value"] = value
            await stream_put(ctx, dut.i, payload)
            if throttle and k % 3 == 0:
                await ctx.tick().repeat(2)

    async def consumer(ctx):
        samples = 0
        k = 0
        while samples < batch:
            p = await stream_get(ctx, dut.o)
            out_events.append((p.index, p.eot, p.last))
            samples += p.eot & p.last
            k += 1
            if throttle and k % 2 == 0:
                await ctx.tick().repeat(3)

    async def monitor(ctx):
        await stream_collect(ctx, dut.readback, records)

    run_scenario(dut, testbenches=[producer, consumer], processes=[monitor],
                 vcd_path=tmp_path / "lif_core.vcd" if tmp_path is not None else None)
    spikes = events_to_spikes(out_events, n=cfg.n_out, timesteps=t_n, batch=batch)
    groups = cfg.groups
    assert len(records) == t_n * batch * groups
    mem = np.zeros((t_n, batch, groups * cfg.lanes), np.int64)
    rb_spk = np.zeros((t_n, batch, groups * cfg.lanes), np.uint8)
    for k, rec in enumerate(records):
        b, rest = divmod(k, t_n * groups)
        t, g = divmod(rest, groups)
        assert rec.index == g * cfg.lanes
        for j in range(cfg.lanes):
            mem[t, b, g * cfg.lanes + j] = rec.membranes[j]
            rb_spk[t, b, g * cfg.lanes + j] = (rec.spikes >> j) & 1
    return spikes, mem[..., :cfg.n_out], rb_spk[..., :cfg.n_out]


@pytest.mark.parametrize(
    ("n_in", "n_out", "lanes", "input_bits", "model", "reset"),
    [
        (6, 5, 2, 1, NeuronModel.LIF, ResetMode.SUBTRACT),   # padded last group
        (5, 3, 4, 1, NeuronModel.IF, ResetMode.ZERO),        # one group: back-to-back RAW
        (4, 8, 1, 8, NeuronModel.LIF, ResetMode.ZERO),       # direct current, one lane
    ],
)
def test_lif_core_matches_sim_lif(tmp_path, n_in, n_out, lanes, input_bits, model, reset):
    cfg = make_config(n_in=n_in, n_out=n_out, lanes=lanes, input_bits=input_bits, model=model,
                      reset=reset, membrane_bits=10 if input_bits == 1 else 12, threshold=9)
    rng = np.random.default_rng(1)
    if input_bits == 1:
        x = (rng.random((4, 2, n_in)) < 0.6).astype(np.uint8)
    else:
        x = rng.integers(0, 256, size=(4, 2, n_in)).astype(np.uint8) * (rng.random(
            (4, 2, n_in)) < 0.7)
    spikes, mem, rb_spk = run_core(cfg, x, tmp_path)
    exp_s, exp_v = golden(cfg, x)
    assert spikes.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()
    assert rb_spk.tolist() == exp_s.tolist()


def test_lif_core_saturates_and_survives_backpressure(tmp_path):
    cfg = make_config(n_in=3, n_out=4, lanes=2, weight_bits=6, membrane_bits=5, threshold=15,
                      leak_shift=1)
    x = np.ones((5, 1, 3), np.uint8)
    spikes, mem, _ = run_core(cfg, x, tmp_path, throttle=True)
    exp_s, exp_v = golden(cfg, x)
    assert spikes.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()


def test_pack_weight_words_places_lane_j_of_group_g():
    cfg = make_config(n_in=2, n_out=3, lanes=2, weight_bits=4)
    words = pack_weight_words(cfg)
    w = cfg.weights
    assert len(words) == 4
    assert words[1] == (int(w[2, 0]) & 0xF)
    assert words[2] == (int(w[0, 1]) & 0xF) | ((int(w[1, 1]) & 0xF) << 4)


def test_lif_core_rejects_non_config():
    with pytest.raises(TypeError, match=r"config must be a LIFCoreConfig, not 3"):
        LIFCore(3)


def test_lif_core_clear_restarts_membranes_from_zero(tmp_path):
    cfg = make_config(n_in=3, n_out=2, lanes=2, threshold=100, leak_shift=4)
    dut = LIFCore(cfg)
    records: list = []

    async def producer(ctx):
        # a timestep closed without "last": membranes carry over ...
        for payload in ({"index": 0}, {"index": 1}, {"eot": 1}):
            await stream_put(ctx, dut.i, payload)
        await ctx.tick().repeat(12)
        # ... unless the host clears between samples
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for payload in ({"index": 2}, {"eot": 1, "last": 1}):
            await stream_put(ctx, dut.i, payload)

    async def consumer(ctx):
        while True:
            p = await stream_get(ctx, dut.o)
            if p.eot and p.last:
                return

    async def monitor(ctx):
        await stream_collect(ctx, dut.readback, records)

    run_scenario(dut, testbenches=[producer, consumer], processes=[monitor],
                 vcd_path=tmp_path / "clear.vcd")
    w = cfg.weights.astype(np.int64)
    assert [list(map(int, r.membranes)) for r in records] == [
        [int(w[0, 0] + w[0, 1]), int(w[1, 0] + w[1, 1])],
        [int(w[0, 2]), int(w[1, 2])],
    ]
