"""Frontend: a trained ``spikesmith.model`` network to a float-stage IR graph.

:func:`from_torch` reads a :class:`~spikesmith.model.network.SpikingMLP`, a
:class:`~spikesmith.model.convnet.SpikingConvNet`, or any module with the same attributes:
``layers``, ``encoder``, ``timesteps``, ``membrane_bits``, ``input_scale(synapse_index)`` and,
for a network whose first layer reads a map, ``in_shape`` ``(C, H, W)``. It walks ``layers``
in order and emits::

    INPUT -> (DENSE | CONV) -> LIF -> [POOL] -> ... -> OUTPUT

* ``QuantDense`` -> DENSE, ``QuantConv2d`` -> CONV (with its bias), ``LIFNeuron`` -> LIF,
  ``SpikePool`` -> POOL; a ``Flatten`` is free (the IR's maps are flat channel-major) and
  emits nothing, nor do ``nn.Dropout`` and ``nn.Identity`` (identity at inference).
* A ``BatchNorm2d`` right after a ``QuantConv2d`` is folded into the CONV's float weights and
  bias (``spikesmith.model.fold``: ``W' = a*W``, ``b' = a*(b - mu) + beta`` per output channel,
  ``a = gamma / sqrt(var + eps)``), the same floats the model's hardware-exact mode quantises.
* A network with ``method_fold(index, weights)`` (``model.method_net.MethodMLP``) exports the
  weights and per-timestep input shift table it returns (folded TEBN) for each synapse.

DENSE and CONV carry the float weights (and bias) and the float value of one input unit, LIF
the float threshold; ``passes.quantize`` folds them into integers through ``sim.quant``.
Every unsupported module is reported at once, before any node is built; then every
structural problem is reported at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from spikesmith.model.conv import Flatten, QuantConv2d, SpikePool
from spikesmith.model.fold import folded_parameters
from spikesmith.model.layers import LIFNeuron, QuantDense
from spikesmith.sim.encoders import EncoderParams
from spikesmith.sim.fixed import FixedFormat

from ..errors import CompilerError
from ..ir import ConvArg, DenseArg, Graph, LIFArg, PoolArg, SpineLayer, build_spine

__all__ = ["ACCEPTED", "ModelStructureError", "UnsupportedLayerError", "from_torch"]

#: What the frontend accepts inside ``layers``, as written in error messages.
ACCEPTED = ("QuantDense, QuantConv2d, BatchNorm2d (after a QuantConv2d), LIFNeuron, SpikePool, "
            "Flatten, Dropout and Identity (identity at inference)")

_PASSTHROUGH = nn.Dropout | nn.Identity
_SUPPORTED = QuantDense | QuantConv2d | nn.BatchNorm2d | LIFNeuron | SpikePool | Flatten

#: Why common unsupported modules are rejected, by base class (first match wins).
_REASONS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (nn.Conv2d, "a float nn.Conv2d has no quantised integer weights; use QuantConv2d"),
    ((nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
     "only 2-D convolution (QuantConv2d) is supported"),
    ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
     "use SpikePool (OR pooling of spikes, window = stride, no padding)"),
    ((nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
     "average pooling has no spike equivalent; use SpikePool (OR pooling)"),
    (nn.BatchNorm1d, ("a dense synapse has no bias in the integer contract, so BatchNorm1d "
                     "cannot be folded; use BatchNorm2d after a QuantConv2d")),
    (nn.BatchNorm3d, "only BatchNorm2d after a QuantConv2d is folded"),
    (nn.LayerNorm, "layer normalisation has no integer equivalent in the LIF core"),
    (nn.Linear, "a float nn.Linear has no quantised integer weights; use QuantDense"),
    (nn.RNNBase, "recurrent layers are not supported"),
    (nn.Flatten, "use spikesmith.model.Flatten (channel-major, free)"),
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
    """The supported modules do not form a valid chain; ``problems`` lists all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the model's layers must be (QuantDense | QuantConv2d [BatchNorm2d]), "
                         f"LIFNeuron, [SpikePool | Flatten], ... with chaining sizes; "
                         f"{len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class _Pair:
    """A synapse, its optional BatchNorm and its neurons, with the map a conv reads."""

    synapse_name: str
    synapse: QuantDense | QuantConv2d
    bn: nn.BatchNorm2d | None
    neuron_name: str
    neuron: LIFNeuron
    in_shape: tuple[int, int, int] | None


@dataclass(frozen=True)
class _Pool:
    name: str
    pool: SpikePool
    in_shape: tuple[int, int, int]


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


class _Walk:
    """One pass over the kept modules: the chain's items and every problem found."""

    def __init__(self, in_shape: tuple[int, int, int] | None) -> None:
        self.items: list[_Pair | _Pool] = []
        self.problems: list[str] = []
        self.shape = in_shape
        self.n_prev: int | None = math.prod(in_shape) if in_shape is not None else None
        self.pending: tuple[str, QuantDense | QuantConv2d, nn.BatchNorm2d | None,
                            tuple[int, int, int] | None] | None = None

    def _no_pending(self, name: str, m: nn.Module) -> None:
        if self.pending is not None:
            p = self.pending
            self.problems.append(f"{name} ({type(m).__name__}) follows {p[0]} "
                                 f"({type(p[1]).__name__}) without a LIFNeuron in between")

    def dense(self, name: str, m: QuantDense) -> None:
        self._no_pending(name, m)
        if self.shape is not None:
            self.problems.append(f"{name} (QuantDense) reads a {self.shape} map; put a "
                                 "Flatten before it")
        elif self.n_prev is not None and m.in_features != self.n_prev:
            self.problems.append(f"{name} (QuantDense) takes {m.in_features} inputs, but the "
                                 f"layer before it produces {self.n_prev}")
        self.pending = (name, m, None, None)
        self.shape, self.n_prev = None, m.out_features

    def conv(self, name: str, m: QuantConv2d) -> None:
        self._no_pending(name, m)
        self.pending = (name, m, None, self.shape)
        if self.shape is None:
            self.problems.append(f"{name} (QuantConv2d) reads a flat vector; a conv needs a "
                                 "map (net.in_shape, or a conv or pool before it)")
            self.n_prev = None
            return
        try:
            self.shape = m.out_shape(self.shape)
            self.n_prev = math.prod(self.shape)
        except ValueError as e:
            self.problems.append(f"{name} (QuantConv2d): {e}")
            self.shape, self.n_prev = None, None

    def batchnorm(self, name: str, m: nn.BatchNorm2d) -> None:
        p = self.pending
        if p is None or not isinstance(p[1], QuantConv2d) or p[2] is not None:
            self.problems.append(f"{name} (BatchNorm2d) must follow a QuantConv2d directly")
        elif m.num_features != p[1].out_channels or not m.track_running_stats:
            self.problems.append(f"{name} (BatchNorm2d) must have running statistics of "
                                 f"{p[1].out_channels} features to fold into {p[0]}")
        else:
            self.pending = (p[0], p[1], m, p[3])

    def neuron(self, name: str, m: LIFNeuron) -> None:
        if self.pending is None:
            self.problems.append(f"{name} (LIFNeuron) has no QuantDense or QuantConv2d before it")
            return
        syn_name, syn, bn, in_shape = self.pending
        self.items.append(_Pair(syn_name, syn, bn, name, m, in_shape))
        self.pending = None

    def pool(self, name: str, m: SpikePool) -> None:
        self._no_pending(name, m)
        if self.shape is None:
            self.problems.append(f"{name} (SpikePool) pools a flat vector; it needs a map")
            return
        try:
            out = m.out_shape(self.shape)
        except ValueError as e:
            self.problems.append(f"{name} (SpikePool): {e}")
            self.shape, self.n_prev = None, None
            return
        self.items.append(_Pool(name, m, self.shape))
        self.shape, self.n_prev = out, math.prod(out)

    def flatten(self, name: str, m: Flatten) -> None:
        self._no_pending(name, m)
        self.shape = None


def _walk(net: nn.Module) -> list[_Pair | _Pool]:
    named = [(f"layers.{k}", m) for k, m in enumerate(net.layers)]
    unsupported = [(name, type(m).__name__, _reason(m)) for name, m in named
                   if not isinstance(m, _SUPPORTED | _PASSTHROUGH)]
    if unsupported:
        raise UnsupportedLayerError(unsupported)
    kept = [(name, m) for name, m in named if not isinstance(m, _PASSTHROUGH)]
    in_shape = getattr(net, "in_shape", None)
    walk = _Walk(tuple(in_shape) if in_shape is not None else None)
    steps = ((QuantDense, walk.dense), (QuantConv2d, walk.conv), (nn.BatchNorm2d, walk.batchnorm),
             (LIFNeuron, walk.neuron), (SpikePool, walk.pool), (Flatten, walk.flatten))
    for name, m in kept:
        next(step for cls, step in steps if isinstance(m, cls))(name, m)
    problems = walk.problems
    if walk.pending is not None:
        p = walk.pending
        problems.append(f"{p[0]} ({type(p[1]).__name__}) is not followed by a LIFNeuron")
    if not kept:
        problems.append("there are no layers")
    elif walk.items and isinstance(walk.items[-1], _Pool):
        problems.append(f"{walk.items[-1].name} (SpikePool) is last; the last layer must have "
                        "neurons")
    _check_sizes(net, walk.items, problems)
    if problems:
        raise ModelStructureError(problems)
    return walk.items


def _check_sizes(net: nn.Module, items: list[_Pair | _Pool], problems: list[str]) -> None:
    """A dense-only network's ``sizes`` attribute, if any, must be its layer widths."""
    sizes = getattr(net, "sizes", None)
    pairs = [x for x in items if isinstance(x, _Pair)]
    if (sizes is None or not pairs or problems or hasattr(net, "in_shape")
            or len(pairs) != len(items) or not all(isinstance(x.synapse, QuantDense)
                                                   for x in pairs)):
        return
    got = [pairs[0].synapse.in_features] + [p.synapse.out_features for p in pairs]
    if list(sizes) != got:
        problems.append(f"net.sizes is {list(sizes)} but the layers have sizes {got}")


def _spine_layer(net: nn.Module, item: _Pair | _Pool, index: int,
                 membrane: FixedFormat) -> SpineLayer:
    """The IR argument(s) of one chain item; ``index`` counts the synapses before it."""
    if isinstance(item, _Pool):
        return PoolArg(kernel=item.pool.kernel, in_shape=item.in_shape)
    syn = item.synapse
    w, b = folded_parameters(syn, item.bn)
    shifts: tuple[int, ...] = ()
    method_fold = getattr(net, "method_fold", None)  # model.method_net: e.g. TEBN folded
    fold_synapse = getattr(net, "method_fold_synapse", None)  # model.method_convnet
    if method_fold is not None:
        w, shifts = method_fold(index, w)
    elif fold_synapse is not None:
        w, b, shifts = fold_synapse(index, w, b)
    input_scale = float(net.input_scale(index))
    if isinstance(syn, QuantConv2d):
        arg: DenseArg | ConvArg = ConvArg(
            weights=w, bits=int(syn.weight_bits), in_shape=item.in_shape,
            stride=int(syn.stride), padding=int(syn.padding), bias=b, input_scale=input_scale)
    else:
        arg = DenseArg(weights=w, bits=int(syn.weight_bits), input_scale=input_scale)
    n = item.neuron
    channels = getattr(n, "channel_threshold_values", None)  # model.ltmd, per channel
    lif = LIFArg(threshold=float(n.threshold_value()), model=n.model,
                 leak_shift=int(n.leak_shift), reset=n.reset, membrane=membrane,
                 input_shifts=shifts, channel_thresholds=() if channels is None else channels())
    return arg, lif


def from_torch(net: nn.Module, *, input_name: str = "input",
               output_name: str = "output") -> Graph:
    """Return the float-stage graph of a trained spiking network.

    Parameters
    ----------
    net : nn.Module
        A ``spikesmith.model.SpikingMLP`` or ``SpikingConvNet``, or a module with the same
        attributes (module docstring).
    input_name, output_name : str
        Names of the INPUT and OUTPUT nodes (the other nodes are named after their position
        in ``net.layers``, e.g. ``layers.0``).

    Raises
    ------
    TypeError
        If ``net`` lacks the attributes of a ``SpikingMLP``.
    UnsupportedLayerError
        Listing every module of ``net.layers`` that cannot be lowered, with the reason.
    ModelStructureError
        Listing every structural problem (order of layers, shapes and sizes).
    """
    _check_net(net)
    items = _walk(net)
    membrane = FixedFormat(int(net.membrane_bits))
    layers: list[SpineLayer] = []
    names: list[tuple[str, str] | str] = []
    index = 0
    for item in items:
        layers.append(_spine_layer(net, item, index, membrane))
        if isinstance(item, _Pair):
            names.append((item.synapse_name, item.neuron_name))
            index += 1
        else:
            names.append(item.name)
    return build_spine(layers, encoder=net.encoder, timesteps=int(net.timesteps),
                       names=names, input_name=input_name, output_name=output_name)
