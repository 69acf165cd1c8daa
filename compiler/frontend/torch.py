"""Frontend: a trained ``spikesmith.model`` network to a float-stage IR graph.

:func:`from_torch` reads a :class:`~spikesmith.model.network.SpikingMLP` (or any module with
the same attributes: ``layers``, ``encoder``, ``timesteps``, ``membrane_bits`` and
``input_scale(dense_index)``). It walks ``layers`` in order and emits::

    INPUT -> DENSE (QuantDense) -> LIF (LIFNeuron) -> ... -> OUTPUT

with the float weights, the float threshold and the float value of each dense layer's input
unit, which ``passes.quantize`` folds into integers through ``sim.quant``. ``nn.Dropout`` and
``nn.Identity`` are the identity at inference and are dropped. Every unsupported module is
reported at once, before any node is built; then every structural problem is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from spikesmith.model.layers import LIFNeuron, QuantDense
from spikesmith.sim.encoders import EncoderParams
from spikesmith.sim.fixed import FixedFormat

from ..errors import CompilerError
from ..ir import DenseArg, Graph, LIFArg, build_spine

__all__ = ["ACCEPTED", "ModelStructureError", "UnsupportedLayerError", "from_torch"]

#: What the frontend accepts inside ``layers``, as written in error messages.
ACCEPTED = "QuantDense, LIFNeuron, Dropout and Identity (identity at inference)"

_PASSTHROUGH = nn.Dropout | nn.Identity

#: Why common unsupported modules are rejected, by base class (first match wins).
_REASONS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
      nn.ConvTranspose3d), "convolution is not supported by the LIF core"),
    ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
     "pooling is not supported by the LIF core"),
    ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), "batch-norm folding is not implemented"),
    (nn.LayerNorm, "layer normalisation has no integer equivalent in the LIF core"),
    (nn.Linear, "a float nn.Linear has no quantised integer weights; use QuantDense"),
    (nn.RNNBase, "recurrent layers are not supported"),
    (nn.Flatten, "reshaping is not supported; feed flat feature vectors"),
    ((nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU),
     "non-spiking activations are not supported; use LIFNeuron"),
    ((nn.Sequential, nn.ModuleList),
     "nested containers are not supported; put the layers in `layers` directly"),
)


class UnsupportedLayerError(CompilerError):
    """The model holds modules the compiler cannot lower; ``layers`` lists them all.

    Attributes
    ----------
    layers : tuple[tuple[str, str, str], ...]
        ``(name, class name, reason)`` per unsupported module, in model order.
    """

    def __init__(self, layers: list[tuple[str, str, str]]) -> None:
        self.layers = tuple(layers)
        lines = "\n".join(f"  {name} ({cls}): {reason}; accepted: {ACCEPTED}"
                          for name, cls, reason in layers)
        super().__init__(f"{len(layers)} unsupported layer(s):\n{lines}")


class ModelStructureError(CompilerError):
    """The supported modules do not form ``(QuantDense, LIFNeuron)+``; ``problems`` lists all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the model's layers must be QuantDense, LIFNeuron, QuantDense, "
                         f"LIFNeuron, ... with chaining sizes; {len(problems)} problem(s):\n"
                         f"{lines}")


@dataclass(frozen=True)
class _Pair:
    dense_name: str
    dense: QuantDense
    neuron_name: str
    neuron: LIFNeuron


def _reason(m: nn.Module) -> str:
    for base, why in _REASONS:
        if isinstance(m, base):
            return why
    return "not a layer the compiler knows"


def _check_net(net: object) -> None:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, not {type(net).__name__}")
    missing = [a for a in ("layers", "encoder", "timesteps", "membrane_bits", "input_scale")
               if not hasattr(net, a)]
    if missing:
        raise TypeError(f"net must provide {', '.join(missing)} like spikesmith.model."
                        f"SpikingMLP; {type(net).__name__} does not")
    if not isinstance(net.layers, nn.ModuleList | nn.Sequential):
        raise TypeError(f"net.layers must be an nn.ModuleList, not {type(net.layers).__name__}")
    if not isinstance(net.encoder, EncoderParams):
        raise TypeError(f"net.encoder must be an EncoderParams, not {net.encoder!r}")


def _pairs(net: nn.Module) -> list[_Pair]:
    named = [(f"layers.{k}", m) for k, m in enumerate(net.layers)]
    unsupported = [(name, type(m).__name__, _reason(m)) for name, m in named
                   if not isinstance(m, QuantDense | LIFNeuron | _PASSTHROUGH)]
    if unsupported:
        raise UnsupportedLayerError(unsupported)
    kept = [(name, m) for name, m in named if not isinstance(m, _PASSTHROUGH)]
    problems: list[str] = []
    pairs: list[_Pair] = []
    pending: tuple[str, QuantDense] | None = None
    n_prev: int | None = None
    for name, m in kept:
        if isinstance(m, QuantDense):
            if pending is not None:
                problems.append(f"{name} (QuantDense) follows {pending[0]} (QuantDense) "
                                "without a LIFNeuron in between")
            if n_prev is not None and m.in_features != n_prev:
                problems.append(f"{name} (QuantDense) takes {m.in_features} inputs, but the "
                                f"layer before it produces {n_prev}")
            pending = (name, m)
            n_prev = m.out_features
        elif pending is None:
            problems.append(f"{name} (LIFNeuron) has no QuantDense before it")
        else:
            pairs.append(_Pair(pending[0], pending[1], name, m))
            pending = None
    if pending is not None:
        problems.append(f"{pending[0]} (QuantDense) is not followed by a LIFNeuron")
    if not kept:
        problems.append("there are no layers")
    sizes = getattr(net, "sizes", None)
    if sizes is not None and pairs:
        got = [pairs[0].dense.in_features] + [p.dense.out_features for p in pairs]
        if list(sizes) != got and not problems:
            problems.append(f"net.sizes is {list(sizes)} but the layers have sizes {got}")
    if problems:
        raise ModelStructureError(problems)
    return pairs


def from_torch(net: nn.Module, *, input_name: str = "input",
               output_name: str = "output") -> Graph:
    """Return the float-stage graph of a trained spiking network.

    Parameters
    ----------
    net : nn.Module
        A ``spikesmith.model.SpikingMLP`` or a module with the same attributes.
    input_name, output_name : str
        Names of the INPUT and OUTPUT nodes (dense and neuron nodes are named after their
        position in ``net.layers``, e.g. ``layers.0``).

    Raises
    ------
    TypeError
        If ``net`` lacks the attributes of a ``SpikingMLP``.
    UnsupportedLayerError
        Listing every module of ``net.layers`` that cannot be lowered, with the reason.
    ModelStructureError
        Listing every structural problem (order of dense and neuron layers, sizes).
    """
    _check_net(net)
    pairs = _pairs(net)
    membrane = FixedFormat(int(net.membrane_bits))
    layers = []
    for k, p in enumerate(pairs):
        dense = DenseArg(weights=p.dense.weight.detach().cpu().numpy().astype(np.float64),
                         bits=int(p.dense.weight_bits), input_scale=float(net.input_scale(k)))
        lif = LIFArg(threshold=float(p.neuron.threshold_value()), model=p.neuron.model,
                     leak_shift=int(p.neuron.leak_shift), reset=p.neuron.reset,
                     membrane=membrane)
        layers.append((dense, lif))
    return build_spine(layers, encoder=net.encoder, timesteps=int(net.timesteps),
                       names=[(p.dense_name, p.neuron_name) for p in pairs],
                       input_name=input_name, output_name=output_name)
