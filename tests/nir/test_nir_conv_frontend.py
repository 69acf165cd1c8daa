"""``compiler.frontend.nir`` on feature maps: Conv2d, SumPool2d / AvgPool2d folded into the
adjacent synapse or read as OR pooling, Flatten; against NIR's own equations, and refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from click.testing import CliRunner
from nir_helpers import euler_reference, float_reading, nir, read_graph

from spikesmith.cli import main
from spikesmith.compiler.frontend.nir import NIRImportError
from spikesmith.compiler.ir import Op

DT = 1e-3
T = 10
K = 2  # leak shift: tau = DT * 2**K


def _lif(shape, *, theta=None):
    ones = np.ones(shape)
    return nir.LIF(tau=ones * DT * 2 ** K, r=ones * 2 ** K, v_leak=0 * ones,
                   v_threshold=ones if theta is None else np.asarray(theta, float),
                   v_reset=0 * ones)


def _conv(rng, c_out, c_in, k, *, stride=1, padding=0, gain=1.0, bias=True, **kw):
    return nir.Conv2d(input_shape=kw.get("hw"), weight=rng.normal(0, gain, (c_out, c_in, k, k)),
                      stride=stride, padding=padding, dilation=kw.get("dilation", 1),
                      groups=kw.get("groups", 1),
                      bias=rng.normal(0, 0.2, c_out) if bias else np.zeros(c_out))


def _pool(kind, k, *, stride=None, padding=0):
    cls = nir.SumPool2d if kind == "sum" else nir.AvgPool2d
    return cls(kernel_size=np.array([k, k]), stride=np.array([stride or k] * 2),
               padding=np.array([padding, padding]))


def _graph(in_shape, *nodes, out=10):
    names = ["input", *(f"n{i}" for i in range(len(nodes))), "output"]
    all_nodes = [nir.Input(input_type=np.array(in_shape)), *nodes,
                 nir.Output(output_type=np.array([out]))]
    return nir.NIRGraph(nodes=dict(zip(names, all_nodes, strict=True)),
                        edges=list(itertools.pairwise(names)), type_check=False)


def _read(g, **kw):
    return read_graph(g, dt=kw.pop("dt", DT), timesteps=T, **kw)


def _every_fold(rng):
    """pool -> conv (padded, divisible map), conv, OR pool, conv -> pool -> neuron, pool ->
    Flatten -> Affine, per-channel thresholds."""
    theta = np.repeat(rng.uniform(0.6, 1.4, 4), 16).reshape(4, 4, 4)
    return _graph((2, 16, 16),
                  _pool("avg", 2), _conv(rng, 3, 2, 3, padding=1, gain=1.5), _lif((3, 8, 8)),
                  _pool("sum", 2), nir.Threshold(threshold=np.full((3, 4, 4), 0.5)),
                  _conv(rng, 4, 3, 3, padding=1, gain=0.8), _lif((4, 4, 4), theta=theta),
                  _pool("sum", 2), nir.Flatten(input_type={"input": np.array([4, 2, 2])},
                                               start_dim=0, end_dim=-1),
                  nir.Linear(weight=rng.normal(0, 3.0, (5, 16))), _lif((5,)), out=5)


def test_conv_pools_and_flatten_spike_as_nirs_equations_say():
    rng = np.random.default_rng(4)
    g = _every_fold(rng)
    fg = _read(g)
    ops = [n.op for n in fg.nodes]
    assert ops == [Op.INPUT, Op.CONV, Op.LIF, Op.POOL, Op.CONV, Op.LIF, Op.DENSE, Op.LIF,
                   Op.OUTPUT]
    first = fg.nodes[1].arg  # the average pool folded in: kernel 6, stride 2, padding 2
    assert (first.kernel, first.stride, first.padding, first.in_shape) == (6, 2, 2, (2, 16, 16))
    assert fg.nodes[6].arg.n_in == 64  # the sum pool folded into the dense layer
    x = rng.uniform(0, 1, (128, 2 * 16 * 16))
    ours = float_reading(fg, x)
    ref = euler_reference(g, x, dt=DT, timesteps=T)
    assert all(r.sum() > 50 for r in ref), [r.sum() for r in ref]  # not vacuous
    for mine, theirs in zip((*ours.hidden_counts, ours.counts), ref, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.sum(0))


def test_conv_then_pool_before_the_neuron_is_one_larger_conv():
    rng = np.random.default_rng(5)
    g = _graph((1, 9, 9), _conv(rng, 3, 1, 3, stride=2, gain=4.0), _pool("avg", 2),
               _lif((3, 2, 2)), nir.Flatten(input_type={"input": np.array([3, 2, 2])},
                                            start_dim=0, end_dim=-1),
               nir.Linear(weight=rng.normal(0, 3.0, (4, 12))), _lif((4,)), out=4)
    conv = _read(g).nodes[1].arg
    assert (conv.kernel, conv.stride, conv.out_shape) == (5, 4, (3, 2, 2))
    x = rng.uniform(0, 1, (96, 81))
    ours = float_reading(_read(g), x)
    ref = euler_reference(g, x, dt=DT, timesteps=T)
    assert ref[0].sum() > 50
    np.testing.assert_array_equal(ours.hidden_counts[0].numpy(), ref[0].sum(0))
    np.testing.assert_array_equal(ours.counts.numpy(), ref[1].sum(0))


def test_an_output_conv_with_a_one_by_one_map_is_a_dense_layer():
    rng = np.random.default_rng(6)
    g = _graph((1, 1, 6, 6), _conv(rng, 3, 1, 3, gain=2.0), _lif((3, 4, 4)),
               _conv(rng, 5, 3, 4, padding=1, bias=False, stride=3), _lif((5, 1, 1)), out=5)
    fg = _read(g)
    assert [n.op for n in fg.nodes][3:5] == [Op.DENSE, Op.LIF]
    assert fg.nodes[3].arg.weights.shape == (5, 48)
    x = rng.uniform(0, 1, (64, 36))
    ref = euler_reference(g, x, dt=DT, timesteps=T)
    np.testing.assert_array_equal(float_reading(fg, x).counts.numpy(), ref[1].sum(0))


def _refusals():
    rng = np.random.default_rng(7)
    flat = nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0, end_dim=-1)
    return {
        "stride = window": _graph((1, 8, 8), _conv(rng, 2, 1, 3), _lif((2, 6, 6)),
                                  _pool("avg", 2, stride=1), flat),
        "dilation 1 and groups 1": _graph((1, 8, 8), _conv(rng, 2, 1, 3, dilation=2)),
        "a map that the pool divides": _graph((1, 9, 9), _pool("avg", 2),
                                              _conv(rng, 2, 1, 3, padding=1), _lif((2, 4, 4))),
        "the output layer must be dense": _graph((1, 8, 8), _conv(rng, 2, 1, 3),
                                                 _lif((2, 6, 6)), out=72),
        "needs a Flatten before it": _graph((1, 4, 4), nir.Linear(weight=np.ones((3, 4))),
                                            _lif((3,))),
        "a SumPool2d/AvgPool2d must fold": _graph((1, 8, 8), _conv(rng, 2, 1, 3),
                                                  _lif((2, 6, 6)), _pool("avg", 2)),
        "OR pooling needs a pool of spikes": _graph(
            (1, 8, 8), _pool("sum", 2), nir.Threshold(threshold=np.full((1, 4, 4), 0.5)),
            _conv(rng, 2, 1, 3), _lif((2, 2, 2))),
        "one value per output channel": _graph((1, 8, 8), _conv(rng, 2, 1, 3),
                                               _lif((2, 6, 6), theta=rng.uniform(1, 2, (2, 6, 6)))),
    }


@pytest.mark.parametrize("needed", sorted(_refusals()))
def test_what_cannot_be_represented_is_reported_with_what_is_needed(needed):
    with pytest.raises(NIRImportError, match=needed):
        _read(_refusals()[needed])


def test_cli_reports_every_conv_problem_at_once_and_writes_nothing(tmp_path):
    rng = np.random.default_rng(8)
    g = _graph((1, 8, 8), _conv(rng, 2, 1, 3, hw=(8, 8)),
               _lif((2, 6, 6), theta=rng.uniform(1, 2, (2, 6, 6))), _pool("avg", 2),
               nir.Threshold(threshold=np.full((2, 3, 3), 0.3)),
               nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0, end_dim=-1),
               nir.Affine(weight=np.ones((10, 18)), bias=np.full(10, 0.1)), _lif((10,)))
    path, run = tmp_path / "bad.nir", tmp_path / "run"
    nir.write(path, g)
    res = CliRunner().invoke(main, ["import", "--nir", str(path), "--run", str(run),
                                    "--dt", str(DT)])
    assert res.exit_code == 2, res.output
    assert "3 problem(s) in the NIR graph" in res.output, res.output
    for text in ("n1: v_threshold differs within an output channel",
                 "n3: Threshold [0.3", "n5: bias = "):
        assert text in res.output
    assert not run.exists()
