"""Rate-based backpropagation (``model.ratebp``) for a spiking conv network.

The equations per neuron layer are those of ``model.ratebp`` (spike pass without a graph,
rate node ``rhat = r + a - stopgrad(a)`` with ``a = e * cbar (+ e_theta * theta)``); this
module adds the conv network's other layers to the time-free rate graph
(``../shared/reference/algorithms.md`` §4.1):

* **conv synapse**: ``cbar = conv(r_in, W) + b`` (the time-mean of the synaptic input, by
  linearity; ``r_in`` the time-mean input of layer 0, the pixels under direct current);
* **BatchNorm** (training, batch statistics): the spike pass normalises the ``(T*batch, C,
  H, W)`` synaptic input with its batch statistics ``mu``, ``sigma**2`` (and updates the
  running ones, as BPTT's forward); the rate pass applies the same affine map to ``cbar``
  with those statistics as constants, ``gamma (cbar - mu) / sqrt(sigma**2 + eps) + beta`` (the
  paper's ``BN_hat`` takes the spike pass's statistics as values; their own gradient, the
  paper's straight-through term, is dropped here). Folded or frozen BatchNorm is part of the
  synapse (``model.fold``) in both passes;
* **OR pooling**: the pooled spikes of the spike pass (exact), and in the rate pass
  ``rhat_pool = r_pool + m - stopgrad(m)``, ``m = maxpool(rhat)``: the gradient of a window
  goes to its most active neuron, as max pooling's;
* **Flatten**: a reshape of both.

The trained network is an ordinary :class:`~spikesmith.model.convnet.SpikingConvNet`: it
exports, folds and verifies exactly like a BPTT-trained one. The spike pass's values equal
``SpikingConvNet.simulate``'s (same float neurons, ``model.lif_sequence.lif_forward``).
"""

from __future__ import annotations

import torch
from torch.nn import functional

from spikesmith.sim.encoders import Encoding

from .conv import Flatten, QuantConv2d
from .convnet import PoolStage, SpikingConvNet, SynapseStage
from .quant import fake_quantize_threshold
from .ratebp import neuron_rates
from .runmodes import FloatRun

__all__ = ["rate_simulate_conv"]


def rate_simulate_conv(net: SpikingConvNet, inputs: torch.Tensor, *, quantized: bool = True
                       ) -> FloatRun:
    """Run ``net`` on encoded inputs ``(T, batch, C*H*W)`` with a rate-based graph.

    Returns the values of ``net.simulate(inputs, quantized=quantized)`` (counts, final
    membrane, hidden counts); the counts are differentiable through the rate graph of the
    module docstring instead of through time.

    Raises
    ------
    TypeError
        If ``net`` is not a plain ``SpikingConvNet`` (a ``MethodConvNet``'s training parts
        have no rate form here).
    ValueError
        On inputs of the wrong shape.
    """
    if type(net) is not SpikingConvNet:
        raise TypeError(f"rate-based backpropagation trains a plain SpikingConvNet, not "
                        f"{type(net).__name__}")
    net.check_inputs(inputs)
    T = net.timesteps
    batch = inputs.shape[1]
    once = net.encoder.encoding is Encoding.DIRECT
    spikes = (inputs[:1] if once else inputs).reshape(-1, *net.in_shape)
    rate = (inputs[0] if once else inputs.mean(dim=0)).reshape(batch, *net.in_shape)
    counts: list[torch.Tensor] = []
    v = None
    for stage in net.stages():
        if isinstance(stage, PoolStage):
            spikes, rate = _pool_rates(stage, spikes, rate, T)
        elif isinstance(stage, Flatten):
            spikes, rate = spikes.flatten(1), rate.flatten(1)
        else:
            current, cbar, lsb = _synapse(net, stage, spikes, rate, quantized)
            if once and stage.index == 0:
                current = current.unsqueeze(0).expand(T, *current.shape)
            else:
                current = current.reshape(T, batch, *current.shape[1:])
            theta = stage.neuron.theta()
            theta = theta if lsb is None else fake_quantize_threshold(theta, lsb=lsb)
            s, count, v, rate = neuron_rates(stage.neuron, current, cbar, theta)
            spikes = s.reshape(-1, *s.shape[2:])
            counts.append(count)
    return FloatRun(counts=counts[-1].reshape(batch, -1), membrane=v.reshape(batch, -1),
                    hidden_counts=tuple(c.reshape(batch, -1) for c in counts[:-1]))


def _synapse(net: SpikingConvNet, stage: SynapseStage, spikes: torch.Tensor,
             rate: torch.Tensor, quantized: bool
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Return the spike pass's synaptic input (no graph), ``cbar`` (with graph) and the
    membrane LSB of a stage."""
    w, b, lsb = net._float_synapse(stage, quantized)
    syn = stage.synapse
    conv = isinstance(syn, QuantConv2d)

    def apply(x: torch.Tensor) -> torch.Tensor:
        return syn.conv(x, w, b) if conv else x @ w.T

    bn = stage.bn if stage.bn is not None and net._bn_batch_stats(stage.bn) else None
    with torch.no_grad():
        pre = apply(spikes)
        current = pre if bn is None else bn(pre)
    cbar = apply(rate)
    if bn is not None:
        mu = pre.mean(dim=(0, 2, 3))
        var = pre.var(dim=(0, 2, 3), unbiased=False)
        a = 1.0 / torch.sqrt(var + bn.eps)
        cbar = (cbar - mu[:, None, None]) * a[:, None, None]
        if bn.affine:
            cbar = cbar * bn.weight[:, None, None] + bn.bias[:, None, None]
    return current, cbar, lsb


def _pool_rates(stage: PoolStage, spikes: torch.Tensor, rate: torch.Tensor, T: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """OR-pool the spikes ``(T*batch, C, H, W)``; the rate node of the module docstring."""
    k = stage.pool.kernel
    with torch.no_grad():
        pooled = functional.max_pool2d(spikes, k, k)
        r = pooled.reshape(T, -1, *pooled.shape[1:]).mean(dim=0)
    m = functional.max_pool2d(rate, k, k)
    return pooled, r + (m - m.detach())
