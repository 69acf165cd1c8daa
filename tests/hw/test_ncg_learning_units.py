# amaranth: UnusedElaboratable=no
"""The forward pass, regulation, errors and row update units of the NCG core, each alone in
the Amaranth simulator against the golden functions of sim.ncg (the testbench plays the
sequencer, the memories and the divider, as in ``test_ncg_units``)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_ncg_core import small_params
from test_ncg_units import SLOW, random_outputs, serve_divider, serve_memory, set_ctl

from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.ncg.buses import updated_neurons
from spikesmith.hw.ncg.errors import NCGErrors
from spikesmith.hw.ncg.forward import NCGForward
from spikesmith.hw.ncg.ncg_streams import NCGWidths, pack_weight_rows, unpack_weight_rows
from spikesmith.hw.ncg.regulation import NCGRegulation
from spikesmith.hw.ncg.row_update import NCGRowUpdate
from spikesmith.hw.ncg.sequencer import NCGState
from spikesmith.sim import ncg, ncg_learning
from spikesmith.sim.fixed import Rounding
from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg_random import draw_block
from spikesmith.sim.ncg_types import Method, Regulation, first_winner, group_winners

S = NCGState


def trained_state(params, seed):
    """A start-of-epoch state with raised training thresholds (``θ̃ >= min θ``, as the CR-2
    floor keeps them; :func:`sim.ncg_learning.regulate` clamps every neuron, the core the regulated
    ones)."""
    state = ncg_learning.start_epoch(ncg.init_state(params, seed=seed), params=params)
    rng = np.random.default_rng(seed)
    shift = rng.integers(0, 30, state.thresholds_train.size)
    return dataclasses.replace(state, thresholds_train=state.thresholds_train + shift)


def random_bins(params, rng):
    """Input bins of one sample, about a third silent."""
    k, f = params.time_bins, params.config.n_inputs
    x = rng.integers(0, k + 3, f)
    x[x >= k] = k
    return x.astype(np.int64)


# --- forward ------------------------------------------------------------------------------

@SLOW
@given(seed=st.integers(0, 2**16), train=st.booleans(), label=st.integers(0, 2),
       mode=st.sampled_from([{}, {"regulation": Regulation.CR1}, {"lanes": 1, "n_inputs": 5},
                             {"method": Method.RSTDP, "regulation": Regulation.DROPOUT,
                              "dropout": 0.3}]))
def test_forward_matches_sim_forward(seed, train, label, mode):
    params = small_params(**mode)
    wd = NCGWidths(params)
    n, k = params.config.class_map.n_neurons, params.time_bins
    rng = np.random.default_rng(seed)
    state = trained_state(params, seed)
    bins = random_bins(params, rng)
    feats, ebins = ncg.events(bins, time_bins=k)
    draws = rng.integers(0, 256, n)
    mems = {
        "events": {i: int(f) | int(b) << wd.feature for i, (f, b) in enumerate(
            zip(feats, ebins, strict=True))},
        "weights": dict(enumerate(pack_weight_rows(state.weights, wd))),
        "theta": dict(enumerate(state.thresholds.tolist())),
        "theta_train": dict(enumerate(state.thresholds_train.tolist())),
    }
    dut = NCGForward(params)
    got, steps = [], []

    async def bench(ctx):
        set_ctl(ctx, dut.ctl, params, train=int(train), label=label, n_events=feats.size)
        ctx.set(dut.state, S.IDLE)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for j in range(n):
            ctx.set(dut.state, S.FWD_START)
            await ctx.tick()
            ctx.set(dut.state, S.FWD_LOAD)
            ctx.set(dut.dropout_draw, int(draws[j]))
            run = ctx.get(dut.run)
            steps.append(ctx.get(dut.dropout_step))
            await ctx.tick()
            if run:
                ctx.set(dut.state, S.FWD_RUN)
                while not ctx.get(dut.spike):
                    if ctx.get(dut.end):
                        await ctx.tick()
                        ctx.set(dut.state, S.FWD_FINAL)
                        break
                    await ctx.tick()
                await ctx.tick()
            ctx.set(dut.state, S.FWD_DONE)
            ctx.set(dut.step, 1)
            got.append((ctx.get(dut.neuron.bin), ctx.get(dut.neuron.potential),
                        ctx.get(dut.finish)))
            await ctx.tick()
            ctx.set(dut.step, 0)
        got.append(ctx.get(dut.theta_min))

    run_scenario(dut, testbenches=[bench], processes=[
        serve_memory(mems[name], read=getattr(dut, f"{name}_rd")) for name in mems])
    dropout = params.config.dropout > 0 and train
    active = draws >= params.dropout if dropout else None
    thr = (ncg_learning.training_thresholds(state, label, params=params) if train
           else state.thresholds)
    t, v = ncg.forward(state.weights, thr, bins, time_bins=k, active=active)
    finish = [0] * (n - 1) + [1]
    assert got == [*zip(t.tolist(), v.tolist(), finish, strict=True), state.thresholds.min()]
    assert steps == [int(dropout)] * n


# --- regulation ---------------------------------------------------------------------------

@SLOW
@given(seed=st.integers(0, 2**16), label=st.integers(0, 2),
       regulation=st.sampled_from([Regulation.CR1, Regulation.CR2]),
       # steps up to the whole threshold range (s15.8): the saturation and the floor
       eta=st.tuples(st.integers(0, 400) | st.integers(0, 2**15 - 1),
                     st.integers(0, 400) | st.integers(0, 2**15 - 1)))
def test_regulation_matches_sim_regulate(seed, label, regulation, eta):
    params = small_params(regulation=regulation, m=4, n_nt=1)
    cm = params.config.class_map
    rng = np.random.default_rng(seed)
    state = trained_state(params, seed)
    rates = dataclasses.replace(state.rates, eta_win=eta[0], eta_lose=eta[1])
    t, v = random_outputs(params, rng)
    tn = cm.target_neurons(label)
    thr_min = int(state.thresholds.min())
    words = dict(enumerate(state.thresholds_train.tolist()))
    dut = NCGRegulation(params)
    lasts = []

    async def bench(ctx):
        set_ctl(ctx, dut.ctl, params, label=label, rates=rates)
        ctx.set(dut.winners.cr_first, int(tn[0]))
        ctx.set(dut.winners.cr_index, int(tn[first_winner(t[tn], v[tn])]))
        ctx.set(dut.theta_min, thr_min)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        lasts.append(ctx.get(dut.enabled))
        while True:
            ctx.set(dut.state, S.REG_RD)
            await ctx.tick()
            ctx.set(dut.state, S.REG_ADD)
            await ctx.tick()
            ctx.set(dut.state, S.REG_WR)
            lasts.append(ctx.get(dut.last))
            await ctx.tick()
            if lasts[-1]:
                break

    run_scenario(dut, testbenches=[bench], processes=[
        serve_memory(words, read=dut.theta_train_rd, write=dut.theta_train_wr)])
    expected = ncg_learning.regulate(state.thresholds_train, t, v, label, params=params,
                                     rates=rates, thr_min=thr_min)
    assert lasts == [int(any(eta))] + [0] * (tn.size - 1) + [1]
    if any(eta):                   # the core skips the pass when both steps are 0
        assert [words[j] for j in range(cm.n_neurons)] == expected.tolist()


# --- errors -------------------------------------------------------------------------------

@SLOW
@given(seed=st.integers(0, 2**16), label=st.integers(0, 2),
       mode=st.sampled_from([{}, {"method": Method.SSTDP}, {"class_wta": False},
                             {"method": Method.RSTDP, "class_wta": False}]))
def test_errors_match_sim_errors(seed, label, mode):
    params = small_params(**mode)
    cm, k = params.config.class_map, params.time_bins
    wd = NCGWidths(params)
    t, v = random_outputs(params, np.random.default_rng(seed))
    upd = (group_winners(t, v, cm.neurons_per_class) if params.config.class_wta
           else np.arange(cm.n_neurons))
    tgt = (cm.classes[upd] == label) & cm.is_target[upd]
    slots = {u: int(j) | int(t[j]) << wd.neuron | int(g) << (wd.neuron + wd.bin)
             for u, (j, g) in enumerate(zip(upd, tgt, strict=True))}
    fired = upd[t[upd] < k]
    tau = t << (params.time_frac - params.log2_bins)
    win = first_winner(t, v)
    dut = NCGErrors(params)
    rows = []

    async def bench(ctx):
        set_ctl(ctx, dut.ctl, params, label=label)
        for name, val in (("index", win), ("bin", t[win]), ("cls", cm.classes[win]),
                          ("target", cm.is_target[win]), ("tau_sum", tau[fired].sum()),
                          ("n_fired", fired.size)):
            ctx.set(getattr(dut.winners, name), int(val))
        ctx.set(dut.state, S.ERR_START)
        divide = ctx.get(dut.divide)
        await ctx.tick()
        if params.config.method is Method.RSTDP:
            rows.append((ctx.get(dut.row.index), ctx.get(dut.row.error)))
            return
        if divide:
            ctx.set(dut.state, S.ERR_DIV)
            while ctx.get(dut.div.busy):
                await ctx.tick()
            await ctx.tick()
        while True:
            ctx.set(dut.state, S.SLOT_RD)
            await ctx.tick()
            ctx.set(dut.state, S.SLOT)
            error, last = ctx.get(dut.error), ctx.get(dut.last_slot)
            await ctx.tick()
            if error:
                rows.append((ctx.get(dut.row.index), ctx.get(dut.row.error)))
                assert ctx.get(dut.row.bin) == t[rows[-1][0]]
                ctx.set(dut.state, S.UPD)
                ctx.set(dut.row_done, 1)
                await ctx.tick()
                ctx.set(dut.row_done, 0)
            if last:
                break

    run_scenario(dut, testbenches=[bench],
                 processes=[serve_memory(slots, read=dut.slots_rd), serve_divider(dut.div)])
    if params.config.method is Method.RSTDP:
        reward = cm.classes[win] == label and cm.is_target[win]
        assert rows == [(win, params.t_max if reward else -params.t_max)]
    else:
        err = ncg_learning.s2stdp_errors(t, v, label, params=params)
        assert rows == [(j, err[j]) for j in upd if err[j]]
        assert updated_neurons(params) == upd.size


# --- row update ---------------------------------------------------------------------------

@SLOW
@given(seed=st.integers(0, 2**16), error=st.integers(-64, 64).filter(bool),
       mode=st.sampled_from([{}, {"w_norm": False}, {"rounding": Rounding.FLOOR},
                             {"rounding": Rounding.HALF_EVEN, "lanes": 8},
                             {"lanes": 1, "n_inputs": 5}]))
def test_row_update_matches_update_rows(seed, error, mode):
    params = small_params(**{"n_inputs": 40, **mode})
    wd = NCGWidths(params)
    p, k, n = params.lanes, params.time_bins, params.config.class_map.n_neurons
    rng = np.random.default_rng(seed)
    state = trained_state(params, seed)
    bins = random_bins(params, rng)
    out_bins = rng.integers(0, k + 1, n)
    row = int(rng.integers(0, n))
    errors = np.zeros(n, dtype=np.int64)
    errors[row] = error * (params.t_max >> 6)
    padded = np.full(wd.groups * p, k)
    padded[:bins.size] = bins
    weights = dict(enumerate(pack_weight_rows(state.weights, wd)))
    in_bins = {g: sum(int(b) << (lane * wd.bin) for lane, b in enumerate(padded[g * p:][:p]))
               for g in range(wd.groups)}
    norm = dict(enumerate(state.norm_target.tolist()))
    lanes = state.lfsr[:p].copy()
    dut = NCGRowUpdate(params)
    steps = []

    async def bench(ctx):
        nonlocal lanes
        set_ctl(ctx, dut.ctl, params, rates=state.rates)
        ctx.set(dut.row.index, row)
        ctx.set(dut.row.bin, int(out_bins[row]))
        ctx.set(dut.row.error, int(errors[row]))
        for st_ in (S.ROW_MUL, S.ROW_PROD, S.ROW_SHIFT):
            ctx.set(dut.state, st_)
            await ctx.tick()
        if params.effective_norm is ncg.WeightNorm.ADDITIVE:
            ctx.set(dut.state, S.PRE)
            while not ctx.get(dut.pre_done):
                await ctx.tick()
            await ctx.tick()
            for st_ in (S.NORM_PROD, S.NORM):
                ctx.set(dut.state, st_)
                await ctx.tick()
            ctx.set(dut.state, S.NORM_DIV)
            while ctx.get(dut.div.busy):
                await ctx.tick()
            await ctx.tick()
        ctx.set(dut.state, S.UPD)
        while True:
            draws, nxt = draw_block(lanes, LFSR24, draws=1)
            for q in range(p):
                ctx.set(dut.draws[q], int(draws[q, 0]))
            step, done = ctx.get(dut.lane_step), ctx.get(dut.row_done)
            await ctx.tick()
            steps.append(step)
            if step:
                lanes = nxt
            if done:
                break

    run_scenario(dut, testbenches=[bench], processes=[
        serve_memory(weights, read=dut.weights_rd, write=dut.weights_wr),
        serve_memory(in_bins, read=dut.in_bins_rd), serve_memory(norm, read=dut.norm_rd),
        serve_divider(dut.div)])
    exp_w, exp_lfsr = ncg_learning.update_rows(state.weights, state.norm_target,
                                               np.array([row]), bins, out_bins, errors,
                                               state.lfsr, params=params, rates=state.rates)
    got_w = unpack_weight_rows([weights[a] for a in range(n * wd.groups)], wd)
    assert got_w.tolist() == exp_w.tolist()
    stochastic = params.weight_format.rounding is Rounding.STOCHASTIC
    assert sum(steps) == (wd.groups if stochastic else 0)
    assert lanes.tolist() == exp_lfsr[:p].tolist()
