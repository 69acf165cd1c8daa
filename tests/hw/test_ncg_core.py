# amaranth: UnusedElaboratable=no
"""NCGCore in the Amaranth simulator: bit-exact against sim.ncg on small configurations.

Every mode the core implements is run for a few training samples (traces, predictions,
weights, training thresholds and LFSR registers compared after every sample) and a few
inference samples.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.ncg.host import (
    decode_records,
    load_state_commands,
    mode_command,
    pack_commands,
    read_command,
    sample_commands,
)
from spikesmith.hw.ncg.ncg_core import NCGCore
from spikesmith.hw.ncg.ncg_divider import FloorDivider
from spikesmith.hw.ncg.ncg_streams import (
    NCGKind,
    NCGSpace,
    NCGWidths,
    pack_weight_rows,
    unpack_weight_rows,
)
from spikesmith.sim import ncg, ncg_learning
from spikesmith.sim.fixed import FixedFormat, Rounding
from spikesmith.sim.ncg_types import ClassMap, Method, NCGConfig, Regulation, WeightNorm


def small_params(*, method=Method.S2STDP, regulation=Regulation.CR2, m=3, n_nt=1,
                 rounding=Rounding.STOCHASTIC, norm=WeightNorm.ADDITIVE, w_norm=True,
                 dropout=0.0, class_wta=True, lanes=4, n_inputs=12, thr_lr=0.3):
    cfg = NCGConfig(n_inputs=n_inputs, class_map=ClassMap(3, m, n_nt), threshold=1.2,
                    method=method, regulation=regulation, t_gap=0.1, a_plus=0.05,
                    a_minus=-0.1, thr_lr=thr_lr, w_norm=w_norm, dropout=dropout,
                    class_wta=class_wta)
    return ncg.NCGParams(cfg, time_bins=8, lanes=lanes, time_frac=6, rate_frac=12, norm=norm,
                         weight_format=FixedFormat(9, 8, signed=False, rounding=rounding))


async def _put(ctx, dut, word):
    ctx.set(dut.i.valid, 1)
    ctx.set(dut.i.payload.as_value(), word)
    await ctx.tick().until(dut.i.ready)
    ctx.set(dut.i.valid, 0)


def run_core(params, cmds, n_records, tmp_path=None):
    """Send ``cmds`` to a fresh core and return the ``n_records`` decoded records."""
    dut = NCGCore(params)
    wd = dut.widths
    words = pack_commands(cmds, wd)
    got: list[int] = []

    async def producer(ctx):
        for w in words:
            await _put(ctx, dut, w)

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        for _ in range(n_records):
            (pl,) = await ctx.tick().sample(dut.o.payload.as_value()).until(dut.o.valid)
            got.append(int(pl))

    run_scenario(dut, testbenches=[producer, consumer],
                 vcd_path=None if tmp_path is None else tmp_path / "ncg.vcd")
    return decode_records(got, wd)


def check_training(params, *, n_train=5, n_test=3, seed=0):
    wd = NCGWidths(params)
    cfg = params.config
    n, f = cfg.class_map.n_neurons, cfg.n_inputs
    rng = np.random.default_rng(seed)
    k = params.time_bins
    x = rng.integers(0, k + 3, size=(n_train + n_test, f))
    x[x >= k] = k
    y = rng.integers(0, cfg.class_map.n_classes, size=n_train + n_test)
    state = ncg_learning.start_epoch(ncg.init_state(params, seed=seed + 1), params=params)
    cmds = [*load_state_commands(state, params), mode_command(train=True, trace=True)]
    words = n * wd.groups
    expected = []
    for i in range(n_train):
        cmds += sample_commands(x[i], int(y[i]), params=params)
        cmds += [read_command(NCGSpace.WEIGHT, words), read_command(NCGSpace.THETA_TRAIN, n),
                 read_command(NCGSpace.LFSR, params.lanes + 1)]
        state, tr = ncg_learning.train_step(state, x[i], int(y[i]), params=params)
        expected.append((state, tr))
    cmds.append(mode_command(train=False))
    for i in range(n_train, n_train + n_test):
        cmds += sample_commands(x[i], int(y[i]), params=params)
    per = n + 1 + words + n + params.lanes + 1
    recs = run_core(params, cmds, n_train * per + n_test)
    pos = 0
    for i, (st, tr) in enumerate(expected):
        trace = recs[pos:pos + n]
        pos += n
        assert all(r.kind is NCGKind.TRACE for r in trace)
        bins = np.array([r.value & ((1 << wd.bin) - 1) for r in trace])
        pots = np.array([r.value >> wd.bin for r in trace])
        assert bins.tolist() == tr.bins.tolist(), f"sample {i} bins"
        assert pots.tolist() == tr.potentials.tolist(), f"sample {i} potentials"
        res = recs[pos]
        pos += 1
        assert res.kind is NCGKind.RESULT and res.index == tr.prediction, f"sample {i}"
        w = unpack_weight_rows([r.value for r in recs[pos:pos + words]], wd)
        pos += words
        assert w.tolist() == st.weights.tolist(), f"sample {i} weights"
        thr = [r.value for r in recs[pos:pos + n]]
        pos += n
        assert thr == st.thresholds_train.tolist(), f"sample {i} thresholds"
        lfsr = [r.value for r in recs[pos:pos + params.lanes + 1]]
        pos += params.lanes + 1
        assert lfsr == st.lfsr.tolist(), f"sample {i} lfsr"
    preds = [r.index for r in recs[pos:]]
    assert all(r.kind is NCGKind.RESULT for r in recs[pos:])
    assert preds == ncg.infer(state, x[n_train:], params=params).tolist()
    return expected


@pytest.mark.parametrize("kwargs", [
    {},
    {"m": 1, "n_nt": 0, "regulation": Regulation.NONE},
    {"method": Method.SSTDP, "n_nt": 0, "w_norm": False},
    {"regulation": Regulation.CR1, "rounding": Rounding.FLOOR},
    {"rounding": Rounding.HALF_EVEN, "norm": WeightNorm.ADDITIVE, "lanes": 8},
    {"method": Method.RSTDP, "regulation": Regulation.DROPOUT, "dropout": 0.3,
     "class_wta": False, "w_norm": False},
    {"class_wta": False, "regulation": Regulation.NONE, "lanes": 1, "n_inputs": 5},
], ids=["s2stdp-cr2", "m1", "sstdp", "cr1-floor", "half-even-p8", "rstdp-dropout",
        "no-wta-p1"])
def test_training_bit_exact(kwargs):
    expected = check_training(small_params(**kwargs))
    # the samples must exercise learning: some rows updated, weights moved
    assert sum(len(tr.updated) for _, tr in expected) > 0
    assert not np.array_equal(expected[0][0].weights, expected[-1][0].weights)


@pytest.mark.parametrize("w_norm", [True, False], ids=["additive", "no-norm"])
@pytest.mark.parametrize("rounding", [Rounding.STOCHASTIC, Rounding.FLOOR, Rounding.HALF_EVEN])
def test_training_bit_exact_saturated_updates(rounding, w_norm):
    """Rates and gaps so large that ``|d+-|`` passes ``2**(ROUND_BITS + W)``, where the core
    saturates the update values (P = 8 with F = 12: padding lanes too)."""
    params = small_params(rounding=rounding, w_norm=w_norm, lanes=8)
    cfg = dataclasses.replace(params.config, a_plus=7.0, a_minus=-7.0, t_gap=0.6)
    params = dataclasses.replace(params, config=cfg)
    expected = check_training(params, n_train=6, n_test=2)
    shift = params.time_frac + params.rate_frac - params.weight_format.frac - ncg.ROUND_BITS
    a_max = round(7.0 * (1 << params.rate_frac))
    e_max = max(int(np.abs(tr.errors).max()) for _, tr in expected)
    assert (e_max * a_max) >> shift >= 1 << (ncg.ROUND_BITS + params.weight_format.width)


def test_regulation_changes_thresholds():
    expected = check_training(small_params(thr_lr=0.5), n_train=6)
    first = expected[0][0].thresholds_train
    assert any(not np.array_equal(first, st.thresholds_train) for st, _ in expected)


def test_readback_of_host_writes():
    params = small_params()
    wd = NCGWidths(params)
    state = ncg.init_state(params, seed=5)
    n = params.config.class_map.n_neurons
    words = n * wd.groups
    cmds = [*load_state_commands(state, params),
            read_command(NCGSpace.WEIGHT, words), read_command(NCGSpace.THETA, n),
            read_command(NCGSpace.NORM, n), read_command(NCGSpace.LFSR, params.lanes + 1)]
    recs = run_core(params, cmds, words + 2 * n + params.lanes + 1)
    assert [r.value for r in recs[:words]] == pack_weight_rows(state.weights, wd)
    assert [r.index for r in recs[:words]] == list(range(words))
    assert [r.value for r in recs[words:words + n]] == state.thresholds.tolist()
    assert [r.value for r in recs[words + n:words + 2 * n]] == state.norm_target.tolist()
    assert [r.value for r in recs[words + 2 * n:]] == state.lfsr.tolist()


@pytest.mark.parametrize(("num", "den"), [(0, 3), (7, 3), (-7, 3), (-6, 3), (1023, 1),
                                            (-1024, 7), (5, 9), (-1, 9)])
def test_floor_divider(num, den):
    dut = FloorDivider(dividend_bits=11, divisor_bits=4)
    got = []

    async def tb(ctx):
        ctx.set(dut.dividend, num)
        ctx.set(dut.divisor, den)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(~dut.busy)
        got.append(ctx.get(dut.quotient))

    run_scenario(dut, testbenches=[tb])
    assert got == [num // den]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lanes": 3}, "power of two"),
    ({"norm": WeightNorm.MULTIPLICATIVE}, "MULTIPLICATIVE"),
])
def test_rejects_unsupported(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NCGCore(small_params(**kwargs))


def test_rejects_non_params():
    with pytest.raises(TypeError, match="NCGParams"):
        NCGCore("digits")
