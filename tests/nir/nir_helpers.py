"""Shared helpers of the NIR tests: NIR's own equations, and our float reading of a graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="the NIR tests need the optional extra spikesmith[nir]")


def euler_reference(graph, x: np.ndarray, *, dt: float, timesteps: int) -> list[np.ndarray]:
    """Spikes ``(T, batch, n)`` of every neuron node of a chain graph, by NIR's equations
    (``nir.LIF``, ``nir.IF`` docstrings) stepped with forward Euler at ``dt``: for LIF
    ``v += dt / tau * (v_leak - v + r * I)``, for IF ``v += dt * r * I``; ``z = v > v_threshold``;
    ``v = v_reset`` where ``z``. ``x`` ``(batch, n_in)`` is the input at every timestep."""
    order, succ = ["input"], dict(graph.edges)
    while order[-1] != "output":
        order.append(succ[order[-1]])
    nodes = [graph.nodes[n] for n in order[1:-1]]
    state = [None] * len(nodes)
    out: list[list[np.ndarray]] = [[] for n in nodes if type(n).__name__ in ("LIF", "IF")]
    for _ in range(timesteps):
        h, k = np.asarray(x, np.float64), 0
        for i, node in enumerate(nodes):
            kind = type(node).__name__
            if kind in ("Affine", "Linear"):
                h = h @ np.asarray(node.weight, np.float64).T
                if kind == "Affine":
                    h = h + np.asarray(node.bias, np.float64)
            elif kind == "Scale":
                h = h * np.asarray(node.scale, np.float64)
            else:
                v = np.zeros_like(h) if state[i] is None else state[i]
                r = np.asarray(node.r, np.float64)
                if kind == "LIF":
                    v = v + dt / np.asarray(node.tau, np.float64) * (
                        np.asarray(node.v_leak, np.float64) - v + r * h)
                else:
                    v = v + dt * r * h
                z = v > np.asarray(node.v_threshold, np.float64)
                state[i] = np.where(z, np.asarray(node.v_reset, np.float64), v)
                out[k].append(z.astype(np.float64))
                h, k = z.astype(np.float64), k + 1
    return [np.stack(s) for s in out]


def float_reading(g, x: np.ndarray):
    """Our float reading of a float-stage graph on inputs ``x`` (batch, n_in) held for every
    timestep: the ``SpikingMLP`` the import stage writes, run unquantised."""
    from spikesmith.nir_stage import network_from_graph

    net = network_from_graph(g, membrane_bits=32)
    t = torch.from_numpy(np.broadcast_to(x, (net.timesteps, *x.shape)).copy()).float()
    with torch.no_grad():
        return net.simulate(t, quantized=False)
