"""A feed-forward spiking network of conv, pool and dense layers built from a spec string.

:class:`SpikingConvNet` holds its modules in ``layers``, flat, in order (``model.arch`` maps
the spec to them)::

    QuantConv2d [BatchNorm2d] LIFNeuron | SpikePool | [Flatten] QuantDense LIFNeuron | ...

Two ways to run it, as :class:`~spikesmith.model.network.SpikingMLP`:

* **Float** (:meth:`SpikingConvNet.simulate`): layer-major over the ``T`` timesteps (a layer's
  synaptic input of all timesteps at once, then its neurons step by step; the network is
  feed-forward, so this equals the timestep-major order of ``sim.network``). A BatchNorm2d
  normalises with batch statistics while training and not frozen
  (:meth:`SpikingConvNet.freeze_batchnorm`); otherwise it is folded into the synapse
  (``model.fold``) and the folded weights, bias and threshold are fake-quantised exactly as
  the export quantises them ("train with what you deploy").
* **Hardware-exact** (:meth:`~spikesmith.model.runmodes.SpikingRunModes.evaluate_hardware`):
  the integer layers of :meth:`SpikingConvNet.integer_layers` run by
  ``sim.network.run_network``; the compiler folds the same floats
  (:meth:`SpikingConvNet.export_synapse`) with the same ``sim.quant`` rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from spikesmith.sim.conv import ConvLayer, PoolLayer, check_shape
from spikesmith.sim.encoders import DEFAULT_ENCODER, EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, Layer
from spikesmith.sim.quant import quantize_bias, quantize_weights

from .arch import ArchSpec, ConvSpec, PoolSpec, resolve_arch
from .conv import Flatten, QuantConv2d, SpikePool
from .fold import fold_batchnorm, folded_parameters
from .layers import DEFAULT_SURROGATE, LIFNeuron, QuantDense
from .network import MAX_INIT_GAIN, check_network_settings
from .quant import fake_quantize_weights
from .runmodes import FloatRun, SpikingRunModes, shared_config
from .surrogate import Surrogate

__all__ = ["PoolStage", "SpikingConvNet", "SynapseStage"]

_PASSTHROUGH = (nn.Dropout, nn.Identity)


@dataclass(frozen=True, eq=False)
class SynapseStage:
    """A conv or dense synapse, its optional BatchNorm and its neurons.

    Attributes
    ----------
    index : int
        Position of the synapse among the synapse layers (0 reads the network input).
    synapse : QuantConv2d or QuantDense
    bn : nn.BatchNorm2d or None
    neuron : LIFNeuron
    in_shape : tuple[int, int, int] or None
        The input map of a conv (``None`` for a dense synapse, which reads a flat vector).
    """

    index: int
    synapse: QuantConv2d | QuantDense
    bn: nn.BatchNorm2d | None
    neuron: LIFNeuron
    in_shape: tuple[int, int, int] | None


@dataclass(frozen=True, eq=False)
class PoolStage:
    """An OR pool of spikes over an ``in_shape`` map."""

    pool: SpikePool
    in_shape: tuple[int, int, int]


class SpikingConvNet(SpikingRunModes, nn.Module):
    """Spiking network of conv, pool and dense layers from a spec string (``model.arch``).

    Parameters
    ----------
    arch : str or ArchSpec
        A spec string or preset name (``model.arch.resolve_arch``).
    in_shape : tuple[int, int, int]
        Input map ``(C, H, W)``; images are its pixels flattened channel-major.
    weight_bits, membrane_bits, timesteps, encoder, model, leak_shift, reset, threshold,
    learnable_threshold, surrogate, init_gain :
        As :class:`~spikesmith.model.network.SpikingMLP` (every layer shares them).
    batch_norm : bool
        Put a ``BatchNorm2d`` after every conv synapse (folded at export).

    Raises
    ------
    TypeError, ValueError
        On a bad spec, a geometry that leaves no output, or bad network parameters.
    """

    def __init__(self, arch: str | ArchSpec, in_shape: tuple[int, int, int], *,
                 weight_bits: int = 8, membrane_bits: int = 16, timesteps: int = 8,
                 encoder: EncoderParams = DEFAULT_ENCODER, model: NeuronModel = NeuronModel.LIF,
                 leak_shift: int = 4, reset: ResetMode = ResetMode.SUBTRACT,
                 threshold: float = 1.0, learnable_threshold: bool = False,
                 surrogate: Surrogate = DEFAULT_SURROGATE, init_gain: float = 1.0,
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.arch = arch if isinstance(arch, ArchSpec) else resolve_arch(arch)
        self.in_shape = check_shape(tuple(in_shape))
        check_network_settings(weight_bits=weight_bits, membrane_bits=membrane_bits,
                               timesteps=timesteps, encoder=encoder)
        if isinstance(init_gain, bool) or not isinstance(init_gain, int | float) or not (
            0.0 < init_gain <= MAX_INIT_GAIN
        ):
            raise ValueError(f"init_gain must be a number in (0, {MAX_INIT_GAIN}], "
                             f"not {init_gain!r}")
        self.weight_bits = weight_bits
        self.membrane_bits = membrane_bits
        self.timesteps = timesteps
        self.encoder = encoder
        self.init_gain = float(init_gain)
        self.batch_norm = bool(batch_norm)
        #: Whether BatchNorm uses its running statistics (folded) even in training mode.
        self.bn_frozen = False
        neuron = {"threshold": threshold, "learnable_threshold": learnable_threshold,
                  "model": model, "leak_shift": leak_shift, "reset": reset,
                  "surrogate": surrogate}
        self.layers = nn.ModuleList(self._build(neuron))
        self.sizes = (math.prod(self.in_shape), self.arch.outputs)
        self.stages()  # checks the geometry of every layer

    def _build(self, neuron: dict[str, object]) -> list[nn.Module]:
        modules: list[nn.Module] = []
        shape: tuple[int, int, int] | None = self.in_shape
        n_flat = 0
        for spec in self.arch.layers:
            if isinstance(spec, ConvSpec):
                conv = QuantConv2d(shape[0], spec.channels, spec.kernel,
                                   weight_bits=self.weight_bits, stride=spec.stride,
                                   padding=spec.padding, init_gain=self.init_gain)
                shape = conv.out_shape(shape)
                modules.append(conv)
                if self.batch_norm:
                    modules.append(nn.BatchNorm2d(spec.channels))
                modules.append(LIFNeuron(**neuron))
            elif isinstance(spec, PoolSpec):
                modules.append(SpikePool(spec.kernel))
                shape = modules[-1].out_shape(shape)
            else:
                if shape is not None:
                    modules.append(Flatten())
                    n_flat, shape = math.prod(shape), None
                modules.append(QuantDense(n_flat, spec.neurons, weight_bits=self.weight_bits,
                                          init_gain=self.init_gain))
                modules.append(LIFNeuron(**neuron))
                n_flat = spec.neurons
        return modules

    # -- structure ----------------------------------------------------------------------------

    def input_scale(self, layer_index: int) -> float:
        """Return the float value of one input unit of synapse layer ``layer_index`` (1.0 for
        spikes, ``1/255`` for synapse layer 0 under ``DIRECT`` encoding)."""
        if layer_index == 0 and self.encoder.encoding is Encoding.DIRECT:
            return 1.0 / 255.0
        return 1.0

    def stages(self) -> list[SynapseStage | PoolStage | Flatten]:
        """Return the layers grouped into stages, with the map each reads.

        Raises
        ------
        ValueError
            If :attr:`layers` does not follow the pattern of the module docstring or the
            shapes do not chain.
        """
        out: list[SynapseStage | PoolStage | Flatten] = []
        kept = [m for m in self.layers if not isinstance(m, _PASSTHROUGH)]
        shape: tuple[int, int, int] | None = self.in_shape
        k = 0
        while k < len(kept):
            m = kept[k]
            if isinstance(m, SpikePool) and shape is not None:
                out.append(PoolStage(m, shape))
                shape = m.out_shape(shape)
                k += 1
            elif isinstance(m, Flatten) and shape is not None:
                out.append(m)
                shape = None
                k += 1
            elif isinstance(m, QuantConv2d | QuantDense):
                stage, k = self._synapse_stage(kept, k, shape, len(out))
                out.append(stage)
                shape = m.out_shape(shape) if isinstance(m, QuantConv2d) else None
            else:
                raise ValueError(f"{type(m).__name__} at stage {len(out)} does not fit a "
                                 "SpikingConvNet (see model.convnet)")
        if not out or not isinstance(out[-1], SynapseStage):
            raise ValueError("a SpikingConvNet must end with a synapse and its LIFNeuron")
        return out

    def _synapse_stage(self, kept: list[nn.Module], k: int, shape: tuple[int, int, int] | None,
                       position: int) -> tuple[SynapseStage, int]:
        syn = kept[k]
        conv = isinstance(syn, QuantConv2d)
        if conv != (shape is not None):
            raise ValueError(f"{type(syn).__name__} at stage {position} reads a "
                             f"{'flat vector' if conv else 'map; insert a Flatten'}")
        if not conv and syn.in_features != self._flat_size(kept, k):
            raise ValueError(f"QuantDense at stage {position} takes {syn.in_features} inputs, "
                             f"but {self._flat_size(kept, k)} arrive")
        bn = kept[k + 1] if k + 1 < len(kept) and isinstance(kept[k + 1], nn.BatchNorm2d) \
            else None
        j = k + 1 + (bn is not None)
        if j >= len(kept) or not isinstance(kept[j], LIFNeuron):
            raise ValueError(f"{type(syn).__name__} at stage {position} is not followed by a "
                             "LIFNeuron")
        if bn is not None and (not conv or bn.num_features != syn.out_channels):
            raise ValueError(f"the BatchNorm2d at stage {position} must follow a QuantConv2d "
                             "of as many channels")
        index = sum(isinstance(m, QuantConv2d | QuantDense) for m in kept[:k])
        return SynapseStage(index, syn, bn, kept[j], shape), j + 1

    def _flat_size(self, kept: list[nn.Module], k: int) -> int:
        """Inputs of the dense synapse ``kept[k]``: outputs of what precedes it."""
        shape: tuple[int, int, int] | None = self.in_shape
        n = math.prod(self.in_shape)
        for m in kept[:k]:
            if isinstance(m, QuantConv2d | SpikePool):
                shape = m.out_shape(shape)
                n = math.prod(shape)
            elif isinstance(m, QuantDense):
                n = m.out_features
        return n

    def freeze_batchnorm(self, frozen: bool = True) -> SpikingConvNet:
        """Fold every BatchNorm with its running statistics from now on, also in training
        (the fine-tuning phase of "train with what you deploy"); return ``self``."""
        self.bn_frozen = bool(frozen)
        return self

    # -- the folded synapse, shared by the float, hardware-exact and compiler paths -----------

    def export_synapse(self, stage: SynapseStage) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the float64 weights and bias (or ``None``) of a stage, BatchNorm folded.

        These are what the compiler's float-stage graph carries and what
        :meth:`integer_layers` quantises (``model.fold`` for the equations).
        """
        return folded_parameters(stage.synapse, stage.bn)

    def _float_synapse(self, stage: SynapseStage, quantized: bool
                       ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Return ``(w, b, lsb)`` of the float run: weights and bias as the export folds and
        quantises them (STE), and the membrane LSB (``None`` unquantised)."""
        syn = stage.synapse
        bias = getattr(syn, "bias", None)
        if stage.bn is not None and not self._bn_batch_stats(stage.bn):
            w, bias = fold_batchnorm(syn.weight, bias, stage.bn)
        else:
            w = syn.weight
        if not quantized:
            return w.to(torch.float32), None if bias is None else bias.to(torch.float32), None
        w_q, scale = fake_quantize_weights(w, bits=syn.weight_bits)
        lsb = scale * self.input_scale(stage.index)
        if bias is not None:
            b_code = torch.round(bias.detach().to(torch.float64) / lsb)
            bias = bias + (b_code * lsb - bias).detach()
            bias = bias.to(torch.float32)
        return w_q.to(torch.float32), bias, lsb

    def _bn_batch_stats(self, bn: nn.BatchNorm2d) -> bool:
        return bn.training and not self.bn_frozen

    # -- float mode ---------------------------------------------------------------------------

    def check_inputs(self, inputs: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``inputs`` has shape ``(T, batch, C*H*W)`` with
        ``T == timesteps``."""
        T = self.timesteps
        if inputs.ndim != 3 or inputs.shape[0] != T or inputs.shape[2] != self.sizes[0]:
            raise ValueError(f"inputs must have shape ({T}, batch, {self.sizes[0]}), "
                             f"not {tuple(inputs.shape)}")

    def simulate(self, inputs: torch.Tensor, *, quantized: bool = True) -> FloatRun:
        """Run the float network on encoded inputs ``(T, batch, C*H*W)`` (from ``encode``).

        ``quantized=False`` uses the raw float weights, bias and thresholds (BatchNorm still
        folded when not using batch statistics).

        Raises
        ------
        ValueError
            If ``inputs`` does not have shape ``(T, batch, C*H*W)`` with ``T == timesteps``.
        """
        self.check_inputs(inputs)
        T = self.timesteps
        batch = inputs.shape[1]
        # Direct current is the same at every timestep: layer 0 then runs on one copy.
        once = self.encoder.encoding is Encoding.DIRECT
        x = (inputs[:1] if once else inputs).reshape(-1, *self.in_shape)
        counts, v = [], None
        for stage in self.stages():
            if isinstance(stage, PoolStage):
                x = stage.pool(x)
            elif isinstance(stage, Flatten):
                x = stage(x)
            else:
                i, lsb = self._synaptic_input(stage, x, quantized)
                if once and stage.index == 0:
                    i = i.unsqueeze(0).expand(T, *i.shape).reshape(T * batch, *i.shape[1:])
                x, v, c = self._neurons(stage, i, lsb, batch)
                counts.append(c)
        return FloatRun(counts=counts[-1].reshape(batch, -1), membrane=v.reshape(batch, -1),
                        hidden_counts=tuple(c.reshape(batch, -1) for c in counts[:-1]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Return the output spike counts ``(batch, n_out)`` of :meth:`simulate`."""
        return self.simulate(inputs).counts

    def _synaptic_input(self, stage: SynapseStage, x: torch.Tensor, quantized: bool
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the synaptic input of a stage and its membrane LSB (``None`` unquantised)."""
        w, b, lsb = self._float_synapse(stage, quantized)
        syn = stage.synapse
        if not isinstance(syn, QuantConv2d):
            return x @ w.T, lsb
        i = syn.conv(x, w, b)
        if stage.bn is not None and self._bn_batch_stats(stage.bn):
            i = stage.bn(i)
        return i, lsb

    def _neurons(self, stage: SynapseStage, i: torch.Tensor, lsb: torch.Tensor | None,
                 batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step the neurons of a stage over ``T``; return spikes ``(T*batch, ...)``, the final
        membrane and the spike counts ``(batch, ...)``."""
        i = i.reshape(self.timesteps, batch, *i.shape[1:])
        s_all, v = stage.neuron.run(i, lsb=lsb)
        return s_all.reshape(-1, *i.shape[2:]), v, s_all.sum(dim=0)

    # -- hardware-exact mode ------------------------------------------------------------------

    def integer_layers(self) -> tuple[Layer, ...]:
        """Return the integer layers folded by the contract's rules (``model.fold``).

        Raises
        ------
        ValueError
            If a threshold or bias does not fit the membrane.
        """
        out: list[Layer] = []
        for stage in self.stages():
            if isinstance(stage, PoolStage):
                out.append(PoolLayer(kernel=stage.pool.kernel, in_shape=stage.in_shape))
            elif isinstance(stage, SynapseStage):
                out.append(self._integer_synapse(stage))
        return tuple(out)

    def _integer_synapse(self, stage: SynapseStage) -> ConvLayer | DenseLayer:
        w, b = self.export_synapse(stage)
        syn = stage.synapse
        w_int, scale = quantize_weights(w, bits=syn.weight_bits)
        input_scale = self.input_scale(stage.index)
        lif = stage.neuron.integer_params(scale=scale, input_scale=input_scale,
                                          membrane_bits=self.membrane_bits)
        if isinstance(syn, QuantDense):
            return DenseLayer(weights=w_int, weight_bits=syn.weight_bits, lif=lif)
        bias = None if b is None else quantize_bias(b, scale=scale, input_scale=input_scale)
        return ConvLayer(weights=w_int, bias=bias, weight_bits=syn.weight_bits,
                         stride=syn.stride, padding=syn.padding, in_shape=stage.in_shape,
                         lif=lif)

    # -- configuration ------------------------------------------------------------------------

    def config(self) -> dict[str, object]:
        """Return the JSON-able constructor arguments (thresholds are their initial values)."""
        neuron = next(s.neuron for s in self.stages() if isinstance(s, SynapseStage))
        return {"arch": str(self.arch), "in_shape": list(self.in_shape),
                "batch_norm": self.batch_norm, **shared_config(self, neuron)}
