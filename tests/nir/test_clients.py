"""Networks built in snnTorch and Norse, written by those libraries' own NIR exporters:
(a) our float reading of the file spikes as the library simulates the network;
(b) imported into a run folder, the integer network equals the RTL bit for bit (verify)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from nir_helpers import CLIENT_WARNINGS, float_reading, import_clients, nir

from spikesmith.cli import main
from spikesmith.compiler.frontend.nir import read_nir
from spikesmith.nir_stage import ImportOptions, float_graph, resolve_options

snn, utils, norse = import_clients()
pytestmark = CLIENT_WARNINGS

K = 3  # beta = 1 - 2**-3
T = 8
SIZES = (64, 24, 10)  # digits: 8x8 pixels, 10 classes
#: Norse writes tau = dt / tau_mem_inv = dt * tau_mem, so NIR's equations reproduce Norse's
#: simulation at the step dt**2 (see docs/nir.md).
NORSE_DT = 1e-3


def _snntorch_net(reset: str = "zero", gain: float = 4.0):
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)

    def leaky(n, **kw):
        return snn.Leaky(beta=torch.full((n,), 1 - 2.0 ** -K), threshold=torch.ones(n),
                         init_hidden=True, reset_mechanism=reset, reset_delay=False, **kw)

    net = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1], bias=False), leaky(SIZES[1]),
                              torch.nn.Linear(SIZES[1], SIZES[2], bias=False),
                              leaky(SIZES[2], output=True))
    with torch.no_grad():
        net[2].weight.mul_(gain)
    return net, export_to_nir(net, torch.rand(1, SIZES[0]), ignore_dims=[0])


def _snntorch_run(net, x):
    hidden = []
    hook = net[1].register_forward_hook(lambda m, i, o: hidden.append(o))
    utils.reset(net)
    out = []
    with torch.no_grad():
        for _ in range(T):
            spk, mem = net(x)
            out.append(spk)
    hook.remove()
    return torch.stack(hidden).sum(0), torch.stack(out).sum(0), mem


def _norse_net():
    from norse.torch.utils.export_nir import to_nir

    torch.manual_seed(1)

    def cell(n):
        p = norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 2.0 ** -K / NORSE_DT),
                                   v_th=torch.full((n,), 0.5), v_leak=torch.zeros(n))
        return norse.LIFBoxCell(p, dt=NORSE_DT)

    net = norse.SequentialState(torch.nn.Linear(SIZES[0], SIZES[1], bias=False), cell(SIZES[1]),
                                torch.nn.Linear(SIZES[1], SIZES[2], bias=False), cell(SIZES[2]))
    with torch.no_grad():
        for m in (net[0], net[2]):
            m.weight.mul_(6.0)
    return net, to_nir(net, torch.rand(1, SIZES[0]), dt=NORSE_DT)


def _norse_run(net, x):
    hidden = []
    hook = net[1].register_forward_hook(lambda m, i, o: hidden.append(o[0]))
    state, out = None, []
    with torch.no_grad():
        for _ in range(T):
            z, state = net(x, state)
            out.append(z)
    hook.remove()
    return torch.stack(hidden).sum(0), torch.stack(out).sum(0), state[-1].v


def _ours(graph, path, dt, reset=None):
    nir.write(path, graph)
    g = read_nir(path)
    r = resolve_options(ImportOptions(nir=str(path), timesteps=T, dt=dt, reset=reset), g)
    return float_graph(g, r)


#: client -> (network builder, library simulation, dt to read with, --reset)
_CLIENTS = {
    "snntorch": (_snntorch_net, _snntorch_run, 1e-4, None),
    # snnTorch writes subtracting neurons as v_reset = 0: read with --reset subtract. Equal
    # while no membrane exceeds twice the threshold (docs/nir.md), so weaker output weights.
    "snntorch-subtract": (lambda: _snntorch_net("subtract", 2.0), _snntorch_run, 1e-4,
                          "subtract"),
    "norse": (_norse_net, _norse_run, NORSE_DT ** 2, None),
}


@pytest.mark.parametrize("client", sorted(_CLIENTS))
def test_our_float_reading_spikes_as_the_library_simulates(client, tmp_path):
    build, run, dt, reset = _CLIENTS[client]
    net, graph = build()
    g = _ours(graph, tmp_path / "net.nir", dt, reset)
    x = np.random.default_rng(0).uniform(0, 1, (200, SIZES[0])).astype(np.float32)
    hidden, out, mem = run(net, torch.from_numpy(x))
    ours = float_reading(g, x)
    assert out.sum() > 100 and hidden.sum() > 100  # not vacuous
    np.testing.assert_array_equal(ours.hidden_counts[0].numpy(), hidden.numpy())
    np.testing.assert_array_equal(ours.counts.numpy(), out.numpy())
    np.testing.assert_allclose(ours.membrane.numpy(), mem.numpy(), atol=1e-5)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.rtl
@pytest.mark.parametrize("client", ["snntorch", "norse"])
def test_imported_network_verifies_bit_exact_against_the_rtl(client, tmp_path):
    build, dt = {"snntorch": (_snntorch_net, 1e-4), "norse": (_norse_net, NORSE_DT ** 2)}[client]
    path, run = tmp_path / "net.nir", tmp_path / "run"
    nir.write(path, build()[1])
    res = _invoke("import", "--nir", path, "--dataset", "digits", "--timesteps", T,
                  "--dt", dt, "--run", run)
    assert res.exit_code == 0, res.output
    assert "train: ran" in res.output
    assert _invoke("export", "--nir", "--run", run, "--lanes", 4).exit_code == 0
    res = _invoke("verify", "--run", run, "--samples", 40, "--membrane-samples", 4)
    assert res.exit_code == 0, res.output
    verify = json.loads((run / "verify.json").read_text())["result"]
    assert verify["mismatches"] == 0 and verify["samples"] == 40
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stages"]["train"] == "current" and summary["stages"]["verify"] == "current"
