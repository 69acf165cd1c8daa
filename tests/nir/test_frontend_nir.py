"""``compiler.frontend.nir``: the discretisation against NIR's own equations, and refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from click.testing import CliRunner
from nir_helpers import euler_reference, float_reading, nir, read_graph

from spikesmith.cli import main
from spikesmith.compiler.frontend.nir import NIRImportError
from spikesmith.compiler.ir import Op
from spikesmith.sim.lif import NeuronModel, ResetMode

DT = 1e-3
T = 12


def _lif(n, *, k=3, r=None, theta=None, v_leak=0.0, tau=None):
    tau = np.full(n, DT * 2.0 ** k) if tau is None else np.asarray(tau, float)
    return nir.LIF(tau=tau, r=np.full(n, 2.0 ** k) if r is None else np.asarray(r, float),
                   v_leak=np.full(n, v_leak),
                   v_threshold=np.full(n, 1.0) if theta is None else np.asarray(theta, float),
                   v_reset=np.zeros(n))


def _graph(*nodes):
    names = ["input", *(f"n{i}" for i in range(len(nodes) - 2)), "output"]
    return nir.NIRGraph(nodes=dict(zip(names, nodes, strict=True)),
                        edges=list(itertools.pairwise(names)), type_check=False)


def _read(g, **kw):
    return read_graph(g, dt=kw.pop("dt", DT), timesteps=T, **kw)


def test_lif_and_if_layers_spike_as_nirs_equations_say():
    rng = np.random.default_rng(1)
    w0, w1 = rng.normal(0, 0.6, (7, 5)), rng.normal(0, 0.8, (3, 7))
    r = rng.uniform(4, 12, 7)  # per-neuron resistance: folded into the rows
    theta = rng.uniform(0.5, 1.5, 3)  # per-neuron thresholds: folded, layer threshold 1
    g = _graph(nir.Input(input_type=np.array([5])), nir.Linear(weight=w0),
               _lif(7, r=r), nir.Affine(weight=w1, bias=np.zeros(3)),
               nir.LIF(tau=np.full(3, DT * 8), r=np.full(3, 8.0), v_leak=np.zeros(3),
                       v_threshold=theta, v_reset=np.zeros(3)),
               nir.Output(output_type=np.array([3])))
    x = rng.uniform(0, 1, (64, 5))
    ours = float_reading(_read(g), x)
    ref = euler_reference(g, x, dt=DT, timesteps=T)
    assert ref[1].sum() > 20 and ref[0].sum() > 20  # the comparison is not vacuous
    np.testing.assert_array_equal(ours.hidden_counts[0].numpy(), ref[0].sum(0))
    np.testing.assert_array_equal(ours.counts.numpy(), ref[1].sum(0))


def test_if_gain_is_dt_times_r():
    w = np.array([[0.5, -0.25], [0.75, 0.5]])
    g = _graph(nir.Input(input_type=np.array([2])), nir.Linear(weight=w),
               nir.IF(r=np.full(2, 200.0), v_threshold=np.full(2, 0.3), v_reset=np.zeros(2)),
               nir.Output(output_type=np.array([2])))
    fg = _read(g)
    lif = fg.of_op(Op.LIF)[0].arg
    assert lif.model is NeuronModel.IF and lif.reset is ResetMode.ZERO
    np.testing.assert_allclose(fg.of_op(Op.DENSE)[0].arg.weights, w * DT * 200.0, rtol=1e-12)
    x = np.random.default_rng(2).uniform(0, 1, (32, 2))
    ref = euler_reference(g, x, dt=DT, timesteps=T)
    np.testing.assert_array_equal(float_reading(fg, x).counts.numpy(), ref[0].sum(0))


def test_scale_nodes_fold_into_the_weights():
    w = np.array([[1.0, 2.0], [3.0, -1.0]])
    g = _graph(nir.Input(input_type=np.array([2])), nir.Scale(scale=np.array([0.5, 2.0])),
               nir.Linear(weight=w), nir.Scale(scale=np.array([3.0, 0.25])), _lif(2),
               nir.Output(output_type=np.array([2])))
    got = _read(g).of_op(Op.DENSE)[0].arg.weights
    np.testing.assert_allclose(got, np.array([[1.5, 12.0], [0.375, -0.5]]))


def _bad_graph():
    return _graph(nir.Input(input_type=np.array([4])),
                  nir.Affine(weight=np.ones((3, 4)), bias=np.array([0.0, 0.1, 0.0])),
                  _lif(3, tau=np.full(3, DT / 0.1), v_leak=0.2),
                  nir.Linear(weight=np.ones((2, 3))),
                  nir.Threshold(threshold=np.ones(2)),
                  nir.Output(output_type=np.array([2])))


def test_every_unrepresentable_node_and_parameter_is_reported_at_once():
    with pytest.raises(NIRImportError) as info:
        _read(_bad_graph())
    text = str(info.value)
    assert len(info.value.problems) == 5, text
    assert "n0: bias = " in text and "constant bias current" in text
    assert "n1: beta = 1 - dt/tau = 0.9 " in text and "nearest is k = 3" in text
    assert "n1: v_leak = " in text
    assert "n3: Threshold node" in text and "full leak" in text
    assert "n2: the last synapse layer has no neuron" in text


def test_a_leak_shift_that_differs_between_layers_is_reported():
    g = _graph(nir.Input(input_type=np.array([2])), nir.Linear(weight=np.ones((2, 2))),
               _lif(2, k=3), nir.Linear(weight=np.ones((2, 2))), _lif(2, k=4),
               nir.Output(output_type=np.array([2])))
    with pytest.raises(NIRImportError, match="leak_shift differs between layers"):
        _read(g)


def test_cli_import_reports_all_problems_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.nir"
    nir.write(path, _bad_graph())
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["import", "--nir", str(path), "--run", str(run),
                                    "--dt", str(DT)])
    assert res.exit_code == 2, res.output
    assert "5 problem(s) in the NIR graph" in res.output
    assert not run.exists()


def test_cuba_lif_is_read_only_when_the_synaptic_current_forgets_each_step():
    def graph(tau_syn):
        cuba = nir.CubaLIF(tau_syn=np.full(2, tau_syn), tau_mem=np.full(2, DT * 4),
                           r=np.full(2, 4.0), v_leak=np.zeros(2), v_threshold=np.ones(2),
                           w_in=np.full(2, 0.5))
        return _graph(nir.Input(input_type=np.array([2])), nir.Linear(weight=np.eye(2)), cuba,
                      nir.Output(output_type=np.array([2])))

    fg = _read(graph(DT))
    assert fg.of_op(Op.LIF)[0].arg.leak_shift == 2
    np.testing.assert_allclose(fg.of_op(Op.DENSE)[0].arg.weights, 0.5 * np.eye(2), rtol=1e-12)
    with pytest.raises(NIRImportError, match="dt/tau_syn = .* is not 1.*second state"):
        _read(graph(DT * 5))


def test_a_scale_that_folds_into_no_synapse_is_reported():
    g = _graph(nir.Input(input_type=np.array([2])), nir.Linear(weight=np.eye(2)), _lif(2),
               nir.Scale(scale=np.ones(2)), nir.Output(output_type=np.array([2])))
    with pytest.raises(NIRImportError, match="n2: Scale after the last neuron layer"):
        _read(g)


def test_a_file_that_is_not_nir_is_refused_before_anything_is_written(tmp_path):
    path, run = tmp_path / "junk.nir", tmp_path / "run"
    path.write_bytes(b"\x89HDF not really" * 10)
    res = CliRunner().invoke(main, ["import", "--nir", str(path), "--run", str(run)])
    assert res.exit_code == 2, res.output
    assert "not a readable NIR file" in res.output and "Traceback" not in res.output
    assert not run.exists()
