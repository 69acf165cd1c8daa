"""Shared helpers of the NIR tests: NIR's own equations, and our float reading of a graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="the NIR tests need the optional extra spikesmith[nir]")
#: Both client libraries call nirtorch.extract_nir_graph, which nirtorch 2.6 marks deprecated.
CLIENT_WARNINGS = pytest.mark.filterwarnings(
    "ignore:nirtorch.extract_nir_graph:DeprecationWarning")


def import_clients():
    """Return the modules ``snntorch``, ``snntorch.utils`` and ``norse.torch``, or skip."""
    return (pytest.importorskip("snntorch", reason="snnTorch is installed by `make test`"),
            pytest.importorskip("snntorch.utils"),
            pytest.importorskip("norse.torch", reason="Norse is installed by `make test`"))


def read_graph(g, *, dt: float, timesteps: int, **kw):
    """``compiler.frontend.nir.from_nir`` of ``g`` with direct input, 8-bit weights and a
    16-bit membrane unless ``kw`` says otherwise."""
    from spikesmith.compiler.frontend.nir import from_nir
    from spikesmith.sim.encoders import EncoderParams, Encoding

    opts = {"encoder": EncoderParams(Encoding.DIRECT), "weight_bits": 8,
            "membrane_bits": 16} | kw
    return from_nir(g, dt=dt, timesteps=timesteps, **opts)


def _f64(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, np.float64))


def _synapse(node, h: torch.Tensor) -> torch.Tensor:
    """NIR's stateless nodes (docstrings of nir.Affine, Conv2d, SumPool2d, ...) in float64."""
    from torch.nn import functional

    kind = type(node).__name__
    if kind in ("Affine", "Linear"):
        h = h @ _f64(node.weight).T
        return h + _f64(node.bias) if kind == "Affine" else h
    if kind == "Scale":
        return h * _f64(node.scale)
    if kind == "Conv2d":
        return functional.conv2d(h, _f64(node.weight), _f64(node.bias),
                                 stride=tuple(np.broadcast_to(node.stride, 2).tolist()),
                                 padding=tuple(np.broadcast_to(node.padding, 2).tolist()))
    if kind in ("SumPool2d", "AvgPool2d"):
        k = int(np.ravel(node.kernel_size)[0])
        return functional.avg_pool2d(h, k) * (k * k if kind == "SumPool2d" else 1)
    if kind == "Flatten":
        return h.reshape(h.shape[0], -1)
    if kind == "Threshold":
        return (h > _f64(node.threshold)).double()
    raise AssertionError(f"no reference for {kind}")


def euler_reference(graph, x: np.ndarray, *, dt: float, timesteps: int) -> list[np.ndarray]:
    """Spikes ``(T, batch, n)`` of every neuron node of a chain graph, by NIR's equations
    (``nir.LIF``, ``nir.IF`` docstrings) stepped with forward Euler at ``dt``: for LIF
    ``v += dt / tau * (v_leak - v + r * I)``, for IF ``v += dt * r * I``; ``z = v > v_threshold``;
    ``v = v_reset`` where ``z``. Stateless nodes as :func:`_synapse`. ``x`` ``(batch, n_in)``,
    reshaped to the Input's shape, is the input at every timestep."""
    order, succ = ["input"], dict(graph.edges)
    while order[-1] != "output":
        order.append(succ[order[-1]])
    shape = tuple(int(v) for v in np.ravel(graph.nodes["input"].input_type["input"]))
    while len(shape) > 3 and shape[0] == 1:  # leading batch dimensions
        shape = shape[1:]
    nodes = [graph.nodes[n] for n in order[1:-1]]
    state = [None] * len(nodes)
    out: list[list[np.ndarray]] = [[] for n in nodes if type(n).__name__ in ("LIF", "IF")]
    for _ in range(timesteps):
        h, k = _f64(x).reshape(len(x), *shape), 0
        for i, node in enumerate(nodes):
            kind = type(node).__name__
            if kind not in ("LIF", "IF"):
                h = _synapse(node, h)
                continue
            v = torch.zeros_like(h) if state[i] is None else state[i]
            r = _f64(node.r).reshape(-1, *h.shape[2:]) if h.ndim > 2 else _f64(node.r)
            if kind == "LIF":
                v = v + dt / _f64(node.tau).reshape(r.shape) * (
                    _f64(node.v_leak).reshape(r.shape) - v + r * h)
            else:
                v = v + dt * r * h
            z = v > _f64(node.v_threshold).reshape(r.shape)
            state[i] = torch.where(z, _f64(node.v_reset).reshape(r.shape), v)
            out[k].append(z.reshape(len(x), -1).double().numpy())
            h, k = z.double(), k + 1
    return [np.stack(s) for s in out]


def float_reading(g, x: np.ndarray):
    """Our float reading of a float-stage graph on inputs ``x`` (batch, n_in) held for every
    timestep: the ``SpikingMLP`` the import stage writes, run unquantised."""
    from spikesmith.nir_stage import network_from_graph

    net = network_from_graph(g, membrane_bits=32)
    t = torch.from_numpy(np.broadcast_to(x, (net.timesteps, *x.shape)).copy()).float()
    with torch.no_grad():
        return net.simulate(t, quantized=False)
