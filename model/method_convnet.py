"""A spiking conv network trained with a :class:`~spikesmith.model.methods.Method`.

:class:`MethodConvNet` is a :class:`~spikesmith.model.convnet.SpikingConvNet` (same
``layers``, same stages, same integer contract) with the training parts of the method:

* ``tanh_threshold``: every ``LIFNeuron`` learns ``theta = tanh(w)`` (``model.ltmd``); the
  neurons of a conv layer one ``w`` per output channel by default
  (:class:`~spikesmith.model.ltmd.ChannelTanhLIFNeuron`, folded into the per-channel table
  ``sim.lif.LIFParams.channel_thresholds``), ``channel_thresholds=False`` for one per layer;
* ``moderate_dropout``: :class:`~spikesmith.model.ltmd.ModerateDropout` of the spikes of the
  first hidden **dense** layer, as the paper (its head: FC, moderate dropout, FC), one mask
  per sample and neuron for all timesteps; a network without a hidden dense layer drops the
  first hidden layer's neurons ``(c, y, x)``. ``two_pass`` asks ``model.train`` for the
  two-pass consistency loss;
* ``tebn``: every conv layer's ``BatchNorm2d`` (statistics over batch, **time** and space,
  as ``SpikingConvNet`` runs it on the ``(T*batch, C, H, W)`` input) is followed by the
  per-timestep scale ``p[t] = 2**round(q[t])`` (:class:`~spikesmith.model.tebn.TimeScale`),
  so ``x_hat[t] = p[t] (gamma (I[t] - mu) / sigma + beta)``, the paper's formulation. Folded
  exactly (``model.tebn``): BN into the weights and bias (``model.fold``), both times
  ``2**m``, and the table ``e[t]`` as the left shift of the synaptic input, bias included
  (``sim.lif``, ``LIFParams.input_shifts``). Dense layers have no BatchNorm and no scale.

The float run in the folded mode (eval, or :meth:`freeze_batchnorm`) and the hardware-exact
mode both read :meth:`method_fold_synapse`; so does the compiler's frontend.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from spikesmith.sim.conv import ConvLayer
from spikesmith.sim.network import DenseLayer

from .conv import QuantConv2d
from .convnet import SpikingConvNet, SynapseStage
from .layers import LIFNeuron, QuantDense
from .ltmd import ChannelTanhLIFNeuron, ModerateDropout, TanhLIFNeuron
from .methods import Method
from .tebn import TimeScale

__all__ = ["MethodConvNet", "build_conv_net"]


class MethodConvNet(SpikingConvNet):
    """A :class:`SpikingConvNet` with the training parts of ``method`` (module docstring).

    Parameters
    ----------
    arch, in_shape :
        As ``SpikingConvNet``.
    method : Method
        The training method (one that changes the network: not ``bptt`` or ``ratebp``,
        which train a plain ``SpikingConvNet``, :func:`build_conv_net`).
    channel_thresholds : bool
        With ``tanh_threshold``: one learned threshold per output channel of a conv layer
        (else one per layer).
    **kwargs
        The other ``SpikingConvNet`` arguments.

    Raises
    ------
    ValueError
        If the method has TEBN and the network no batch norm.
    """

    def __init__(self, arch, in_shape, *, method: Method, channel_thresholds: bool = True,
                 **kwargs: object) -> None:
        super().__init__(arch, in_shape, **kwargs)
        if not isinstance(method, Method):
            raise TypeError(f"method must be a Method, not {method!r}")
        parts = method.parts
        if parts.tebn and not self.batch_norm:
            raise ValueError("TEBN scales the output of a conv layer's BatchNorm; build the "
                             "network with batch_norm=True")
        self.method = method
        self.channel_thresholds = bool(channel_thresholds)
        if parts.tanh_threshold:
            self._tanh_neurons()
        stages = [s for s in self.stages() if isinstance(s, SynapseStage)]
        conv = [s.index for s in stages if isinstance(s.synapse, QuantConv2d)]
        #: TEBN's per-timestep scale of each conv stage (by synapse index, as a string).
        self.time_scales = nn.ModuleDict(
            {str(k): TimeScale(self.timesteps) for k in conv} if parts.tebn else {})
        hidden = [s.index for s in stages[:-1]]
        dense = [k for k in hidden if k not in conv]
        self.moderate = (ModerateDropout() if parts.moderate_dropout and hidden else None)
        #: Synapse index whose spikes the moderate dropout masks.
        self.moderate_index = (dense or hidden or [-1])[0]
        #: ``model.train`` runs two passes and the consistency loss.
        self.two_pass = parts.moderate_dropout

    def _tanh_neurons(self) -> None:
        """Replace every ``LIFNeuron`` by its ``tanh(w)`` form (per channel after a conv)."""
        channels = None
        for k, m in enumerate(self.layers):
            if isinstance(m, QuantConv2d | QuantDense):
                per_channel = isinstance(m, QuantConv2d) and self.channel_thresholds
                channels = m.out_channels if per_channel else None
            elif isinstance(m, LIFNeuron):
                common = {"model": m.model, "leak_shift": m.leak_shift, "reset": m.reset,
                          "surrogate": m.surrogate}
                self.layers[k] = (TanhLIFNeuron(**common) if channels is None else
                                  ChannelTanhLIFNeuron(channels=channels, **common))

    def time_scale(self, index: int) -> TimeScale | None:
        """Return the TEBN scale of synapse ``index`` (``None`` without one)."""
        key = str(index)
        return self.time_scales[key] if key in self.time_scales else None  # noqa: SIM401 (no ModuleDict.get)

    # -- folding ------------------------------------------------------------------------------

    def method_fold_synapse(self, index: int, weights: np.ndarray, bias: np.ndarray | None
                            ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, ...]]:
        """Return the float64 weights, bias and input shift table synapse ``index`` exports:
        with TEBN ``2**m W'``, ``2**m b'`` and ``e`` (``model.tebn.TimeScale``), else the
        arguments unchanged and ``()``."""
        scale = self.time_scale(index)
        if scale is None:
            return weights, bias, ()
        f = scale.common_factor()
        return (np.asarray(weights, np.float64) * f,
                None if bias is None else np.asarray(bias, np.float64) * f, scale.shifts())

    def export_synapse(self, stage: SynapseStage) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``SpikingConvNet.export_synapse`` through :meth:`method_fold_synapse`."""
        return self.method_fold_synapse(stage.index, *super().export_synapse(stage))[:2]

    def _integer_synapse(self, stage: SynapseStage) -> ConvLayer | DenseLayer:
        layer = super()._integer_synapse(stage)
        scale = self.time_scale(stage.index)
        if scale is None:
            return layer
        return dataclasses.replace(layer, lif=dataclasses.replace(
            layer.lif, input_shifts=scale.shifts()))

    # -- float mode ---------------------------------------------------------------------------

    def _float_synapse(self, stage: SynapseStage, quantized: bool
                       ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Folded TEBN: the weights, bias and membrane LSB of the base class times ``2**m``
        (exact: a power of two leaves the weight and bias codes unchanged)."""
        w, b, lsb = super()._float_synapse(stage, quantized)
        scale = self.time_scale(stage.index)
        if scale is None or self._bn_batch_stats(stage.bn):
            return w, b, lsb
        f = scale.common_factor()
        return (w * f, None if b is None else b * f, None if lsb is None else lsb * f)

    def _neurons(self, stage: SynapseStage, i: torch.Tensor, lsb: torch.Tensor | None,
                 batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scale the synaptic input by ``p[t]`` (batch statistics) or ``2**e[t]`` (folded),
        step the neurons, then apply the moderate dropout after its layer."""
        scale = self.time_scale(stage.index)
        if scale is not None:
            i = i.reshape(self.timesteps, batch, *i.shape[1:])
            if self._bn_batch_stats(stage.bn):
                p = scale.time_scale()
            else:
                p = torch.exp2(torch.tensor(scale.shifts(), dtype=i.dtype))
            i = (i * p.to(i.dtype).reshape(-1, *([1] * (i.ndim - 1)))).reshape(-1, *i.shape[2:])
        x, v, counts = super()._neurons(stage, i, lsb, batch)
        if self.moderate is not None and stage.index == self.moderate_index:
            x = self.moderate(x.reshape(self.timesteps, batch, *x.shape[1:])).reshape(x.shape)
        return x, v, counts

    def config(self) -> dict[str, object]:
        """Return ``SpikingConvNet.config`` plus ``method`` (its command-line name) and
        ``channel_thresholds``."""
        return {**super().config(), "method": self.method.value,
                "channel_thresholds": self.channel_thresholds}


def build_conv_net(arch, in_shape, *, method: Method = Method.BPTT,
                   channel_thresholds: bool = True, **kwargs: object) -> SpikingConvNet:
    """Return a ``SpikingConvNet`` for a method that does not change the network (``bptt``,
    ``ratebp``), else a :class:`MethodConvNet`."""
    if not method.parts.changes_the_network:
        return SpikingConvNet(arch, in_shape, **kwargs)
    return MethodConvNet(arch, in_shape, method=method, channel_thresholds=channel_thresholds,
                         **kwargs)
