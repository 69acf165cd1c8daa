"""Rate-based backpropagation (Yu et al., NeurIPS 2024) for a dense spiking MLP.

BPTT keeps every timestep of every layer for its backward pass. Rate-based backpropagation
runs the ``T``-step spiking forward **without a graph**, keeps per neuron only its firing
rate ``r`` and an averaged local derivative ``e``, and back-propagates once through a
time-free graph on the rates (``../shared/reference/algorithms.md`` §4). Per dense layer
``l`` with fake-quantised weights ``W`` and threshold ``theta``:

Spike pass (no graph; the same float neurons as :class:`~spikesmith.model.layers.LIFNeuron`,
values equal to the BPTT forward)::

    c_t = s^{l-1}_t @ W.T;   x_t = u_t - theta;   s_t = (x_t >= 0)      (model.lif_sequence)
    r = (1/T) sum_t s_t
    e = (1/T) sum_t f'(x_t) * kappa_t                 f' the surrogate derivative
    e_theta = (1/T) sum_t f'(x_t) * (rho_t - 1)       only for a learnable threshold

``kappa_t = du_t/dc`` is the sensitivity of the membrane to a constant input, and
``rho_t = du_t/dtheta`` its sensitivity to the threshold, both with the spike detached in the
reset as in ``LIFNeuron.step`` (``lam = 1 - 2**-k`` for LIF, 1 for IF)::

    kappa_1 = 1,  kappa_{t+1} = 1 + g_t kappa_t,   g_t = lam (SUBTRACT)  or  lam (1 - s_t) (ZERO)
    rho_1 = 0,    rho_{t+1} = lam (rho_t - s_t)  (SUBTRACT)   or   0  (ZERO)

With the subtractive reset ``kappa`` is a table of ``T`` constants (the paper's default,
detached soft reset).

Rate pass (with graph), from the time-mean input ``xbar`` of layer 0 and the rates after::

    cbar = r^{l-1} @ W.T                      (= the time-mean of c_t, by linearity)
    rhat = r + a - stopgrad(a),   a = e * cbar + e_theta * theta

so the forward value is the true spiking rate and ``d rhat / d cbar = e``. The loss sees the
output counts ``T * rhat``; its gradient needs no ``1/T`` rescaling here because ``e``
already averages over time (the gradient equals BPTT's when inputs are constant in time).
A dense network has no BatchNorm, so there are no statistics to carry between the passes.

The trained network is an ordinary :class:`~spikesmith.model.network.SpikingMLP`: it exports,
folds and verifies exactly like a BPTT-trained one.
"""

from __future__ import annotations

import enum

import torch
from torch import nn

from spikesmith.sim.encoders import Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode

from .layers import LIFNeuron, QuantDense
from .lif_sequence import lif_forward
from .network import SpikingMLP
from .quant import fake_quantize_threshold
from .runmodes import FloatRun

__all__ = ["TrainMethod", "neuron_rates", "rate_simulate"]


class TrainMethod(enum.Enum):
    """How :func:`~spikesmith.model.train.train` computes gradients."""

    #: Back-propagation through time over the ``T`` unrolled steps (surrogate gradients).
    BPTT = "bptt"
    #: Rate-based back-propagation: spiking forward without a graph, one backward on rates.
    RATEBP = "ratebp"


def rate_simulate(net: SpikingMLP, inputs: torch.Tensor, *, quantized: bool = True
                  ) -> FloatRun:
    """Run ``net`` on encoded inputs ``(T, batch, sizes[0])`` with a rate-based graph.

    Returns the same values as ``net.simulate(inputs, quantized=quantized)`` (counts, final
    membrane, hidden counts); the counts are differentiable through the rate pass of the
    module docstring instead of through time.

    Raises
    ------
    TypeError
        If ``net`` is not a :class:`~spikesmith.model.network.SpikingMLP`.
    ValueError
        On inputs of the wrong shape, or an active dropout (its per-step masks have no rate
        form here).
    """
    if not isinstance(net, SpikingMLP):
        raise TypeError(f"rate-based backpropagation trains a SpikingMLP, not {net!r}")
    T = net.timesteps
    if inputs.ndim != 3 or inputs.shape[0] != T or inputs.shape[2] != net.sizes[0]:
        raise ValueError(f"inputs must have shape ({T}, batch, {net.sizes[0]}), "
                         f"not {tuple(inputs.shape)}")
    net.synapse_neuron_pairs()  # validates the structure
    once = net.encoder.encoding is Encoding.DIRECT
    spikes, rate = inputs, inputs[0] if once else inputs.mean(dim=0)
    counts: list[torch.Tensor] = []
    v = lsb = cbar = current = None
    dense_index = 0
    for m in net.layers:
        if isinstance(m, QuantDense):
            w_q, scale = m.quantized() if quantized else (m.weight, None)
            lsb = scale * net.input_scale(dense_index) if quantized else None
            with torch.no_grad():
                current = (spikes[0] @ w_q.T).expand(T, -1, -1) if once and (
                    dense_index == 0) else spikes @ w_q.T
            cbar = rate @ w_q.T
            dense_index += 1
        elif isinstance(m, LIFNeuron):
            theta = m.theta() if lsb is None else fake_quantize_threshold(m.theta(), lsb=lsb)
            spikes, count, v, rate = neuron_rates(m, current, cbar, theta)
            counts.append(count)
        elif isinstance(m, nn.Dropout) and m.training and m.p > 0:
            raise ValueError("rate-based backpropagation does not support dropout in training")
    return FloatRun(counts=counts[-1], membrane=v, hidden_counts=tuple(counts[:-1]))


def neuron_rates(neuron: LIFNeuron, current: torch.Tensor, cbar: torch.Tensor,
                  theta: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spike pass and rate node of one neuron layer.

    Returns the spikes ``(T, batch, n)`` (no graph), the counts ``T * rhat`` and final
    membrane ``(batch, n)``, and ``rhat`` (differentiable through ``cbar`` and ``theta``).
    """
    T = current.shape[0]
    shift = neuron.leak_shift if neuron.model is NeuronModel.LIF else None
    lam = 1.0 if shift is None else 1.0 - 2.0 ** -shift
    with torch.no_grad():
        x, v = lif_forward(current, theta.detach(), leak_shift=shift, reset=neuron.reset)
        spikes = (x >= 0).to(current.dtype)
        deriv = neuron.surrogate.derivative(x)
        e = _input_sensitivity(deriv, spikes, lam=lam, reset=neuron.reset)
        count = spikes.sum(dim=0)
    a = e * cbar
    if theta.requires_grad:
        with torch.no_grad():
            e_theta = _threshold_sensitivity(deriv, spikes, lam=lam, reset=neuron.reset)
        a = a + e_theta * theta
    delta = a - a.detach()
    return spikes, count + T * delta, v, count / T + delta


def _input_sensitivity(deriv: torch.Tensor, spikes: torch.Tensor, *, lam: float,
                       reset: ResetMode) -> torch.Tensor:
    """Return ``e = (1/T) sum_t f'(x_t) kappa_t`` (module docstring)."""
    T = deriv.shape[0]
    if reset is ResetMode.SUBTRACT:
        kappa = [1.0]
        for _ in range(T - 1):
            kappa.append(1.0 + lam * kappa[-1])
        table = deriv.new_tensor(kappa).reshape(T, *([1] * (deriv.ndim - 1)))
        return (deriv * table).mean(dim=0)
    kappa = torch.ones_like(deriv[0])
    acc = deriv[0].clone()
    for t in range(1, T):
        kappa = 1.0 + lam * (1.0 - spikes[t - 1]) * kappa
        acc.addcmul_(deriv[t], kappa)
    return acc / T


def _threshold_sensitivity(deriv: torch.Tensor, spikes: torch.Tensor, *, lam: float,
                           reset: ResetMode) -> torch.Tensor:
    """Return ``e_theta = (1/T) sum_t f'(x_t) (rho_t - 1)`` (module docstring)."""
    if reset is ResetMode.ZERO:
        return -deriv.mean(dim=0)
    rho = torch.zeros_like(deriv[0])
    acc = -deriv[0]
    for t in range(1, deriv.shape[0]):
        rho = lam * (rho - spikes[t - 1])
        acc = acc + deriv[t] * (rho - 1.0)
    return acc / deriv.shape[0]
