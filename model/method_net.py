"""A dense spiking network trained with a :class:`~spikesmith.model.methods.Method`.

:class:`MethodMLP` is a :class:`~spikesmith.model.network.SpikingMLP` (same ``layers``, same
integer contract) whose float run is layer-major over the ``T`` timesteps (equal to the
timestep-major order for a feed-forward network), so that the parts that need a whole spike
or current sequence can see it:

* ``tanh_threshold``: every ``LIFNeuron`` is a :class:`~spikesmith.model.ltmd.TanhLIFNeuron`;
* ``moderate_dropout``: :class:`~spikesmith.model.ltmd.ModerateDropout` of the spikes of the
  first hidden layer (one mask for all timesteps), and ``two_pass`` asks ``model.train`` for
  the two-pass consistency loss;
* ``tebn``: a :class:`~spikesmith.model.tebn.TEBNorm` on every synaptic input. With batch
  statistics (training, not frozen) it normalises the fake-quantised synaptic input;
  otherwise (eval, or :meth:`MethodMLP.freeze_batchnorm`) the float run uses exactly the
  folded network the export produces: the weights ``W'`` of ``TEBNorm.fold_weights``
  fake-quantised, the synaptic input scaled by ``2**e[t]``, the threshold fake-quantised at
  the LSB of ``W'`` (``model.tebn`` for the equations).

The hardware-exact mode and the compiler's frontend read :meth:`MethodMLP.method_fold`: the
float64 weights and the per-timestep input shift table of each layer, quantised by
``sim.quant``; nothing of the training parts remains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from spikesmith.sim.network import DenseLayer
from spikesmith.sim.quant import quantize_weights

from .layers import LIFNeuron, QuantDense
from .ltmd import ModerateDropout, TanhLIFNeuron
from .methods import Method
from .network import SpikingMLP
from .quant import fake_quantize_weights
from .runmodes import FloatRun
from .tebn import TEBNorm

__all__ = ["MethodMLP", "build_mlp"]


class MethodMLP(SpikingMLP):
    """A :class:`SpikingMLP` with the training parts of ``method`` (module docstring).

    Parameters
    ----------
    sizes : Sequence[int]
        As ``SpikingMLP``.
    method : Method
        The training method (not ``Method.BPTT``: that is a plain ``SpikingMLP``,
        :func:`build_mlp`).
    **kwargs
        The other ``SpikingMLP`` arguments.
    """

    def __init__(self, sizes: Sequence[int], *, method: Method, **kwargs: object) -> None:
        super().__init__(sizes, **kwargs)
        if not isinstance(method, Method):
            raise TypeError(f"method must be a Method, not {method!r}")
        if self.dropout:
            raise ValueError("a MethodMLP has no nn.Dropout (dropout must be 0); ltmd brings "
                             "its moderate dropout")
        self.method = method
        parts = method.parts
        if parts.tanh_threshold:
            for k, m in enumerate(self.layers):
                if isinstance(m, LIFNeuron):
                    self.layers[k] = TanhLIFNeuron(model=m.model, leak_shift=m.leak_shift,
                                                   reset=m.reset, surrogate=m.surrogate)
        pairs = self.synapse_neuron_pairs()
        self.norms = nn.ModuleList(
            [TEBNorm(d.out_features, self.timesteps) for d, _ in pairs] if parts.tebn else [])
        self.moderate = ModerateDropout() if parts.moderate_dropout and len(pairs) > 1 else None
        #: ``model.train`` runs two passes and the consistency loss.
        self.two_pass = parts.moderate_dropout

    def freeze_batchnorm(self, frozen: bool = True) -> MethodMLP:
        """Run every TEBN folded (running statistic, the export's weights) from now on, also
        in training: the quantisation-aware fine-tune; return ``self``."""
        for norm in self.norms:
            norm.frozen = bool(frozen)
        return self

    # -- folding ------------------------------------------------------------------------------

    def method_fold(self, index: int, weights: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """Return the float64 weights and the input shift table that dense layer ``index``
        exports (``weights`` unchanged and ``()`` without TEBN)."""
        if not self.norms:
            return np.asarray(weights, dtype=np.float64), ()
        return self.norms[index].fold_numpy(weights)

    def integer_layers(self) -> tuple[DenseLayer, ...]:
        """Return the integer layers: :meth:`method_fold` quantised by ``sim.quant``."""
        out = []
        for idx, (dense, neuron) in enumerate(self.synapse_neuron_pairs()):
            w, shifts = self.method_fold(idx, dense.weight.detach().cpu().numpy())
            w_int, scale = quantize_weights(w, bits=dense.weight_bits)
            lif = neuron.integer_params(scale=scale, input_scale=self.input_scale(idx),
                                        membrane_bits=self.membrane_bits)
            lif = dataclasses.replace(lif, input_shifts=shifts)
            out.append(DenseLayer(weights=w_int, weight_bits=dense.weight_bits, lif=lif))
        return tuple(out)

    # -- float mode ---------------------------------------------------------------------------

    def _synaptic_input(self, index: int, dense: QuantDense, x: torch.Tensor, quantized: bool
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the (normalised) synaptic input ``(T, batch, n)`` of dense layer ``index``
        and the membrane LSB for its threshold (``None`` unquantised)."""
        norm = self.norms[index] if self.norms else None
        folded = norm is not None and not norm.uses_batch_stats()
        w = norm.fold_weights(dense.weight) if folded else dense.weight
        if quantized:
            w, scale = fake_quantize_weights(w, bits=dense.weight_bits)
            lsb = scale * self.input_scale(index)
        else:
            lsb = None
        i = x @ w.to(torch.float32).T
        if norm is None:
            return i, lsb
        if folded:
            e = torch.tensor(norm.shifts(), dtype=torch.float32)
            return i * torch.exp2(e)[:, None, None], lsb
        return norm(i), lsb

    def simulate(self, inputs: torch.Tensor, *, quantized: bool = True) -> FloatRun:
        """Run the float network on encoded inputs ``(T, batch, sizes[0])``, layer-major.

        Raises
        ------
        ValueError
            If ``inputs`` does not have shape ``(T, batch, sizes[0])``.
        """
        if inputs.ndim != 3 or inputs.shape[0] != self.timesteps or (
                inputs.shape[2] != self.sizes[0]):
            raise ValueError(f"inputs must have shape ({self.timesteps}, batch, "
                             f"{self.sizes[0]}), not {tuple(inputs.shape)}")
        x = inputs
        counts, v = [], None
        for idx, (dense, neuron) in enumerate(self.synapse_neuron_pairs()):
            i, lsb = self._synaptic_input(idx, dense, x, quantized)
            v = torch.zeros_like(i[0])
            spikes = []
            for t in range(self.timesteps):
                s, v = neuron.step(i[t], v, lsb=lsb)
                spikes.append(s)
            x = torch.stack(spikes)
            counts.append(x.sum(dim=0))
            if idx == 0 and self.moderate is not None:
                x = self.moderate(x)
        return FloatRun(counts=counts[-1], membrane=v, hidden_counts=tuple(counts[:-1]))

    def config(self) -> dict[str, object]:
        """Return ``SpikingMLP.config`` plus ``method`` (its command-line name)."""
        return {**super().config(), "method": self.method.value}


def build_mlp(sizes: Sequence[int], *, method: Method = Method.BPTT, **kwargs: object
              ) -> SpikingMLP:
    """Return a ``SpikingMLP`` for a method that does not change the network (``bptt``,
    ``ratebp``), else a :class:`MethodMLP`."""
    if not method.parts.changes_the_network:
        return SpikingMLP(sizes, **kwargs)
    return MethodMLP(sizes, method=method, **kwargs)
