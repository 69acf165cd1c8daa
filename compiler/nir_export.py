"""Backend: a lowered integer IR graph to a NIR graph that carries its integer formats.

The float parameters are chosen so that NIR's equations, discretised as
``compiler.frontend.nir`` reads them (forward Euler at :data:`DT`), compute our integers:

* a DENSE becomes ``Linear(weight = W_int * input_max)`` for the first layer (the NIR input is
  the encoder's value divided by ``input_max``, e.g. pixels / 255) and ``Linear(W_int)`` after;
* a LIF becomes ``LIF(tau = DT * 2**k, r = tau / DT, v_leak = 0, v_reset = 0)`` (so
  ``beta = 1 - 2**-k`` and the input gain is 1), an IF ``IF(r = 1 / DT)``;
* a CONV becomes ``Conv2d(weight = W_int * input_max or W_int, bias = b_int)`` (zero bias and
  ``spikesmith.bias = none`` when it has none), its neurons take the ``(C, H, W)`` map's shape;
* a POOL (OR pooling of spikes) becomes ``SumPool2d(k, stride k)`` then ``Threshold(1/2)``:
  on binary spikes ``sum > 1/2`` is the OR of the window;
* a ``Flatten`` of the whole map precedes the first DENSE after a map (both orders are
  channel-major);
* ``v_threshold = theta_int - 1/4``: NIR fires on ``v > v_threshold``, we fire on
  ``u >= theta_int``, the same test on integer membranes; reading it back rounds to
  ``theta_int``. Per-channel thresholds (``LIFArg.channel_thresholds``) give each neuron its
  channel's ``theta_int[c] - 1/4`` and are also listed in the metadata; a per-timestep input
  shift table (``LIFArg.input_shifts``) is in the metadata alone (NIR has no per-timestep
  input scale).

What NIR's float equations do not state is in each node's ``metadata`` (keys prefixed
``spikesmith.``): weight, accumulator and membrane bits, the integer threshold, leak shift,
neuron model and reset (NIR 1.0 resets to ``v_reset`` only: a reset by subtraction is in the
metadata alone), and on the Input node the encoder, its seed and the timesteps. The float
equations reproduce the integer model except for the floor of the shift leak
(``v >> k`` against ``v * 2**-k``) and membrane saturation, which the metadata states.
"""

from __future__ import annotations

import itertools

import numpy as np

from spikesmith.sim.encoders import input_max

from .frontend.nir import META
from .ir import ConvArg, Graph, Node, Op, PoolArg, feature_shape, size, stage_of

__all__ = ["DT", "THRESHOLD_OFFSET", "to_nir"]

#: Euler step the written graph states (snnTorch's); also written as ``spikesmith.dt``.
DT = 1e-4
#: ``v_threshold = theta_int - THRESHOLD_OFFSET`` (any value in ``(0, 1/2)`` works).
THRESHOLD_OFFSET = 0.25


def _name(n: Node) -> str:
    return n.name.replace(".", "_")


def _input_node(nir, n: Node, shape: tuple[int, ...]):
    a = n.arg
    return nir.Input(input_type={"input": np.array(shape)}, metadata={
        META + "encoding": a.encoder.encoding.value, META + "encoder_seed": a.encoder.seed,
        META + "timesteps": a.timesteps, META + "dt": DT, META + "format": "spikesmith-nir/1"})


def _synapse_meta(n: Node) -> dict[str, object]:
    meta: dict[str, object] = {META + "weight_bits": n.arg.bits}
    if n.fmt is not None:
        meta[META + "acc_bits"] = n.fmt.width
    return meta


def _dense_node(nir, n: Node, scale: int):
    return nir.Linear(weight=n.arg.weights.astype(np.float64) * scale, metadata=_synapse_meta(n))


def _conv_node(nir, n: Node, scale: int):
    a: ConvArg = n.arg
    meta = _synapse_meta(n)
    meta[META + "bias"] = "none" if a.bias is None else "yes"
    bias = np.zeros(a.weights.shape[0]) if a.bias is None else a.bias.astype(np.float64)
    return nir.Conv2d(input_shape=tuple(a.in_shape[1:]), weight=a.weights.astype(np.float64) *
                      scale, stride=a.stride, padding=a.padding, dilation=1, groups=1, bias=bias,
                      metadata=meta)


def _pool_nodes(nir, n: Node) -> list[tuple[str, object]]:
    k = n.arg.kernel
    pooled = np.full(n.arg.out_shape, 0.5)
    return [(_name(n), nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]),
                                     padding=np.array([0, 0]))),
            (_name(n) + "_or", nir.Threshold(threshold=pooled))]


def _lif_node(nir, n: Node):
    a = n.arg
    shape = feature_shape(n) or (n.src[0].arg.n_out,)
    ones = np.ones(shape)
    theta = (a.threshold - THRESHOLD_OFFSET) * ones
    meta = {META + "threshold": a.threshold, META + "model": a.model.value,
            META + "leak_shift": a.leak_shift, META + "reset": a.reset.value,
            META + "membrane_bits": a.membrane.width}
    if a.channel_thresholds:
        table = np.asarray(a.channel_thresholds, dtype=np.float64)
        theta = (table.reshape(-1, *([1] * (len(shape) - 1))) - THRESHOLD_OFFSET) * ones
        meta[META + "channel_thresholds"] = list(a.channel_thresholds)
    if a.input_shifts:
        meta[META + "input_shifts"] = list(a.input_shifts)
    if a.model.value == "if":
        return nir.IF(r=ones / DT, v_threshold=theta, v_reset=0 * ones, metadata=meta)
    tau = DT * 2.0 ** a.leak_shift * ones
    return nir.LIF(tau=tau, r=tau / DT, v_leak=0 * ones, v_threshold=theta, v_reset=0 * ones,
                   metadata=meta)


def _nodes_of(nir, n: Node, state: dict[str, object]) -> list[tuple[str, object]]:
    """The NIR nodes of one IR node; ``state`` holds the input unit and the current map."""
    x_max, fmap = state["x_max"], state["map"]
    state["x_max"] = 1
    if n.op is Op.INPUT:
        state["x_max"] = input_max(n.arg.encoder)
        return [(_name(n), _input_node(nir, n, state["in_shape"]))]
    if n.op is Op.CONV:
        state["map"] = n.arg.out_shape
        return [(_name(n), _conv_node(nir, n, x_max))]
    if n.op is Op.POOL:
        state["map"] = n.arg.out_shape
        return _pool_nodes(nir, n)
    if n.op is Op.LIF:
        state["x_max"] = x_max
        return [(_name(n), _lif_node(nir, n))]
    if n.op is Op.DENSE:
        state["map"] = None
        out = [] if fmap is None else [(_name(n) + "_flatten", nir.Flatten(
            input_type={"input": np.array(fmap)}, start_dim=0, end_dim=-1))]
        return [*out, (_name(n), _dense_node(nir, n, x_max))]
    return [(_name(n), nir.Output(output_type={"output": np.array([size(n.src[0])])}))]


def to_nir(g: Graph):
    """Return the NIR graph of a lowered integer graph (see the module docstring).

    Raises
    ------
    ValueError
        If ``g`` is still in the float stage.
    """
    import nir

    if stage_of(g).value != "integer":
        raise ValueError("to_nir needs an integer-stage graph (run compiler.pipeline.lower)")
    first = g.nodes[1].arg
    in_shape = tuple(first.in_shape) if isinstance(first, ConvArg | PoolArg) else (
        first.n_in,)
    state: dict[str, object] = {"x_max": 1, "map": None, "in_shape": in_shape}
    named: list[tuple[str, object]] = []
    for n in g.nodes:
        named += _nodes_of(nir, n, state)
    edges = [(a, b) for (a, _), (b, _) in itertools.pairwise(named)]
    return nir.NIRGraph(nodes=dict(named), edges=edges,
                        metadata={META + "format": "spikesmith-nir/1"})
