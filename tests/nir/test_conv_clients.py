"""Conv networks built in snnTorch and Norse, written by those libraries' own NIR exporters:
(a) our float reading of the file spikes as the library simulates the network (every layer);
(b) imported into a run folder, the integer network equals the conv RTL bit for bit (verify).

snnTorch 1.0 writes Conv2d, AvgPool2d, Flatten, Linear and Leaky (not MaxPool2d); Norse 1.1
writes Conv2d, Linear and LIFBoxCell but no Flatten or pooling, so its network downsamples by
stride and ends in a conv with a 1 x 1 map (read as a dense layer)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from nir_helpers import CLIENT_WARNINGS, float_reading, import_clients, nir

from spikesmith.cli import main
from spikesmith.compiler.frontend.nir import read_nir
from spikesmith.compiler.ir import Op
from spikesmith.nir_stage import ImportOptions, float_graph, resolve_options

snn, utils, norse = import_clients()
pytestmark = CLIENT_WARNINGS

K = 3  # beta = 1 - 2**-3
T = 8
#: Norse writes tau = dt * tau_mem: read with dt**2 (docs/nir.md).
NORSE_DT = 1e-3


def _snntorch_net():
    """8x8 digits: conv, Leaky, avg pool, conv (pool folded in), avg pool (folded into the
    conv), Leaky, Flatten, Linear, Leaky."""
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)

    def leaky(*shape, **kw):
        return snn.Leaky(beta=torch.full(shape, 1 - 2.0 ** -K), threshold=torch.ones(shape),
                         init_hidden=True, reset_mechanism="zero", reset_delay=False, **kw)

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), leaky(4, 8, 8), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.AvgPool2d(2), leaky(8, 2, 2),
        torch.nn.Flatten(), torch.nn.Linear(32, 10, bias=False), leaky(10, output=True))
    with torch.no_grad():
        for m, gain in ((net[0], 3.0), (net[3], 4.0), (net[7], 4.0)):
            m.weight.mul_(gain)
    return net, export_to_nir(net, torch.rand(1, 1, 8, 8), ignore_dims=[0])


def _snntorch_run(net, x):
    hidden = []
    hooks = [net[i].register_forward_hook(lambda m, i, o: hidden.append(o)) for i in (1, 5)]
    utils.reset(net)
    out = []
    with torch.no_grad():
        for _ in range(T):
            spk, mem = net(x.reshape(-1, 1, 8, 8))
            out.append(spk)
    for h in hooks:
        h.remove()
    counts = [torch.stack(hidden[j::2]).sum(0).reshape(len(x), -1) for j in (0, 1)]
    return [*counts, torch.stack(out).sum(0)], mem


def _norse_net():
    """8x8 digits: conv, LIFBox, conv of stride 2, LIFBox, conv to a 1 x 1 map (no bias),
    LIFBox. The graph's types are inferred before writing (Norse's exporter leaves the
    Conv2d output types unset, which nir.write cannot store); the sample has no batch dim."""
    from norse.torch.utils.export_nir import to_nir

    torch.manual_seed(1)

    def cell(*shape):
        p = norse.LIFBoxParameters(tau_mem_inv=torch.full(shape, 2.0 ** -K / NORSE_DT),
                                   v_th=torch.full(shape, 0.5), v_leak=torch.zeros(shape))
        return norse.LIFBoxCell(p, dt=NORSE_DT)

    net = norse.SequentialState(
        torch.nn.Conv2d(1, 4, 3), cell(4, 6, 6), torch.nn.Conv2d(4, 8, 3, stride=2),
        cell(8, 2, 2), torch.nn.Conv2d(8, 10, 2), cell(10, 1, 1))
    with torch.no_grad():
        net[4].bias.zero_()
        for m, gain in ((net[0], 6.0), (net[2], 10.0), (net[4], 16.0)):
            m.weight.mul_(gain)
    graph = to_nir(net, torch.rand(1, 8, 8), dt=NORSE_DT)
    graph.infer_types()
    return net, graph


def _norse_run(net, x):
    hidden = []
    hooks = [net[i].register_forward_hook(lambda m, i, o: hidden.append(o[0])) for i in (1, 3)]
    state, out = None, []
    with torch.no_grad():
        for _ in range(T):
            z, state = net(x.reshape(-1, 1, 8, 8), state)
            out.append(z.reshape(len(x), -1))
    for h in hooks:
        h.remove()
    counts = [torch.stack(hidden[j::2]).sum(0).reshape(len(x), -1) for j in (0, 1)]
    return [*counts, torch.stack(out).sum(0)], state[-1].v.reshape(len(x), -1)


#: client -> (network builder, library simulation, dt to read with)
_CLIENTS = {"snntorch": (_snntorch_net, _snntorch_run, 1e-4),
            "norse": (_norse_net, _norse_run, NORSE_DT ** 2)}


@pytest.mark.parametrize("client", sorted(_CLIENTS))
def test_our_float_reading_of_a_conv_network_spikes_as_the_library_simulates(client, tmp_path):
    build, run, dt = _CLIENTS[client]
    net, graph = build()
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    g = read_nir(path)
    fg = float_graph(g, resolve_options(ImportOptions(nir=str(path), timesteps=T, dt=dt), g))
    assert fg.of_op(Op.CONV) and fg.of_op(Op.DENSE)
    x = np.random.default_rng(0).uniform(0, 1, (200, 64)).astype(np.float32)
    counts, mem = run(net, torch.from_numpy(x))
    ours = float_reading(fg, x)
    assert all(c.sum() > 100 for c in counts), [float(c.sum()) for c in counts]  # not vacuous
    for mine, theirs in zip((*ours.hidden_counts, ours.counts), counts, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    np.testing.assert_allclose(ours.membrane.numpy(), mem.numpy(), atol=1e-5)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.rtl
@pytest.mark.parametrize("client", sorted(_CLIENTS))
def test_imported_conv_network_verifies_bit_exact_against_the_rtl(client, tmp_path):
    build, _run, dt = _CLIENTS[client]
    path, run = tmp_path / "net.nir", tmp_path / "run"
    nir.write(path, build()[1])
    res = _invoke("import", "--nir", path, "--dataset", "digits", "--timesteps", T,
                  "--dt", dt, "--run", run)
    assert res.exit_code == 0, res.output
    config = json.loads((run / "config.json").read_text())
    assert config["source"] == "nir"
    assert _invoke("export", "--nir", "--run", run, "--lanes", 4).exit_code == 0
    res = _invoke("verify", "--run", run, "--samples", 40, "--membrane-samples", 4)
    assert res.exit_code == 0, res.output
    verify = json.loads((run / "verify.json").read_text())["result"]
    assert verify["mismatches"] == 0 and verify["samples"] == 40
