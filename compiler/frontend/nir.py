"""Frontend: a NIR graph (``nir`` 1.0, written by snnTorch, Norse, ...) to a float-stage IR graph.

NIR states continuous-time neurons. This frontend discretises them with forward Euler at the
step ``dt`` the user states (snnTorch writes with ``dt = 1e-4``, Norse with ``dt = 1e-3``) and
folds what our contract can represent into the float stage that ``passes.quantize`` turns into
integers, exactly as it does for a trained ``SpikingMLP``:

==========  ==================================================  =========================
NIR node    NIR equation                                        Euler step of ``dt``
==========  ==================================================  =========================
``LIF``     ``tau dv/dt = (v_leak - v) + r I``                  ``v += dt/tau (v_leak - v + r I)``
``IF``      ``dv/dt = r I``                                     ``v += dt r I``
``CubaLIF`` ``tau_syn dI/dt = -I + w_in S``; LIF on ``I``       as LIF, with ``I = w_in S``
                                                                only if ``dt/tau_syn = 1``
==========  ==================================================  =========================

Our neuron (``sim.lif``) is ``v = v - v * 2**-k + I`` (LIF) or ``v = v + I`` (IF), so:

* ``beta = 1 - dt/tau`` must equal ``1 - 2**-k`` for one ``k`` in ``1..31`` (relative tolerance
  :data:`TAU_RTOL`), the same ``k`` for every neuron of every layer (a ``SpikingMLP`` has one
  leak shift); otherwise the nearest ``k`` is reported;
* the input gain ``g = dt r / tau`` (LIF), ``dt r`` (IF), times ``w_in`` (CubaLIF) is folded
  into the rows of the preceding weight matrix, so any per-neuron ``r`` is exact;
* ``v_leak`` must be 0 and ``v_reset`` 0 (NIR resets *to* ``v_reset``: our ``ResetMode.ZERO``);
  NIR 1.0 has no reset by subtraction, so ``ResetMode.SUBTRACT`` is taken from our own
  node metadata (``spikesmith.reset``, written by :mod:`compiler.nir_export`) or chosen by the
  caller for a library that writes subtracting neurons as ``v_reset = 0``;
* a threshold that differs between the neurons of a layer is folded into the rows (the
  membrane of neuron ``i`` divided by ``theta_i``: exact for ``v_leak = v_reset = 0``) and the
  layer threshold becomes 1;
* NIR fires on ``v > theta``, we fire on ``u >= theta``: equal except on the measure-zero set
  ``u == theta`` of float membranes (our writer sets thresholds a quarter LSB below the
  integer threshold so both agree on integer membranes);
* ``Scale`` nodes are folded into the adjacent weight matrix, ``Affine`` needs a zero bias
  (a dense layer has no bias; a ``Conv2d`` bias is kept: the conv contract has one).

Feature maps (:mod:`compiler.frontend.nir_maps` states the folds): ``Conv2d`` (square kernel,
one stride and padding, dilation 1, groups 1) becomes a CONV whose gain and threshold must be
one per output channel; ``SumPool2d`` / ``AvgPool2d`` (window = stride, no padding) are linear
and fold exactly into the Conv2d or Affine after them, or into the Conv2d before them when no
neuron is in between, or, followed by a ``Threshold`` below one spike, are OR pooling of
spikes (a POOL); ``Flatten`` of the whole map is free (both orders are channel-major); an
output Conv2d with a 1 x 1 map is a DENSE (how a Norse network, whose exporter writes no
Flatten, reaches a dense output layer; the conv core is not an output core). An Input of
shape ``(1, ..., C, H, W)`` has leading batch dimensions.

The NIR input is the encoder's input divided by ``sim.encoders.input_max`` (pixels / 255 in
``[0, 1]`` for direct current, spikes for rate and latency coding): the float value of one
input unit of the first DENSE is ``1 / input_max``. Every node or parameter that cannot be
represented is reported at once (:class:`NIRImportError`) before any IR is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from spikesmith.sim.encoders import EncoderParams, Encoding, input_max
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import NeuronModel, ResetMode

from ..ir import ConvArg, DenseArg, Graph, LIFArg, PoolArg, SpineLayer, build_spine
from .nir_maps import (
    ConvGeometry,
    PoolGeometry,
    conv_as_dense,
    conv_then_pool,
    pool_then_conv,
    pool_then_dense,
)
from .nir_nodes import (
    ACCEPTED,
    META,
    TAU_RTOL,
    NIRImportError,
    Problem,
    arr,
    conv_node,
    flatten_ok,
    kind,
    meta,
    neuron,
    pool_node,
    zero,
)

__all__ = ["ACCEPTED", "META", "TAU_RTOL", "NIRImportError", "Problem", "from_nir",
           "read_nir"]

_SYNAPSES = ("Affine", "Linear")
_NEURONS = ("LIF", "IF", "CubaLIF")
_POOLS = ("SumPool2d", "AvgPool2d")
#: Why known NIR nodes are refused, with what would be needed.
_REFUSED = {
    "LI": "a leaky integrator without spikes has no counterpart: the output rule counts spikes "
          "(needs a membrane read-out rule)",
    "I": "an integrator without spikes has no counterpart (needs a membrane read-out rule)",
    "CubaLI": "a current-based leaky integrator without spikes has no counterpart",
    "Threshold": "a stateless threshold is a neuron with full leak (beta = 0); our leak is "
                 "beta = 1 - 2**-k >= 1/2 (needs a leak shift k = 0 mode in sim.lif); only a "
                 "SumPool2d/AvgPool2d of spikes then a Threshold below one spike is read "
                 "(OR pooling)",
    "Delay": "synaptic delays are not in the contract",
    "Conv1d": "1-D convolution is not in the contract",
    "NIRGraph": "nested graphs (recurrent layers such as snnTorch's RLeaky) are not supported",
}


def read_nir(path: object):
    """Return ``nir.read(path, type_check=False)``, or raise :class:`NIRImportError`.

    ``path`` is a file name or a binary file object (e.g. ``io.BytesIO`` of bytes already read).

    Raises
    ------
    ImportError
        If the ``nir`` package is not installed (``pip install spikesmith[nir]``).
    """
    import nir

    try:  # nir's own type check refuses Norse's (1, n) Input shapes; sizes are checked here
        return nir.read(path if hasattr(path, "read") else str(path), type_check=False)
    except (OSError, KeyError, ValueError, AssertionError, TypeError) as exc:
        name = "NIR file" if hasattr(path, "read") else str(path)
        raise NIRImportError([Problem(name, f"not a readable NIR file ({exc})",
                                      "write it with nir.write")]) from None


def _chain(graph) -> tuple[list[tuple[str, object]], list[Problem]]:
    """Return the nodes from the single Input to the single Output, in order."""
    nodes: Mapping[str, object] = graph.nodes
    problems: list[Problem] = []
    inputs = [n for n, v in nodes.items() if kind(v) == "Input"]
    outputs = [n for n, v in nodes.items() if kind(v) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        problems.append(Problem("graph", f"{len(inputs)} Input and {len(outputs)} Output nodes",
                                "needs exactly one of each"))
        return [], problems
    succ: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        succ.setdefault(src, []).append(dst)
    order = [inputs[0]]
    while order[-1] != outputs[0]:
        nxt = succ.get(order[-1], [])
        if len(nxt) != 1 or nxt[0] in order or nxt[0] not in nodes:
            problems.append(Problem(order[-1], f"has successors {nxt}",
                                    "the graph must be a chain Input -> ... -> Output"))
            return [], problems
        order.append(nxt[0])
    if len(order) != len(nodes):
        extra = sorted(set(nodes) - set(order))
        problems.append(Problem("graph", f"nodes {extra} are off the Input -> Output chain",
                                "a feed-forward chain"))
    return [(n, nodes[n]) for n in order], problems


@dataclass
class _Layer:
    """A synapse (float, gain folded) and the neuron after it, while being built.

    ``geo`` is ``None`` for a dense layer (``weights`` ``(n_out, n_in)``), else the conv's
    geometry (``weights`` ``(C_out, C_in, K, K)``, ``bias`` per output channel or ``None``).
    """

    name: str
    weights: np.ndarray
    geo: ConvGeometry | None = None
    bias: np.ndarray | None = None
    neuron: str | None = None
    model: NeuronModel | None = None
    leak_shift: int | None = None
    threshold: float | None = None
    reset: ResetMode | None = None

    @property
    def out_shape(self) -> tuple[int, ...]:
        """``(n_out,)`` of a dense layer, ``(C_out, H_out, W_out)`` of a conv."""
        if self.geo is None:
            return (self.weights.shape[0],)
        return (self.weights.shape[0], *self.geo.out_hw)


@dataclass
class _OrPool:
    """An OR pool of spikes (a POOL)."""

    name: str
    kernel: int
    in_shape: tuple[int, int, int]


def _input_shape(name: str, node: object, problems: list[Problem]
                 ) -> tuple[tuple[int, ...] | None, int]:
    """The Input's shape without leading batch dimensions of size 1, and how many there were."""
    shape = tuple(int(x) for x in arr(node.input_type["input"]).ravel())
    batch = 0
    while (len(shape) > 3 or len(shape) == 2) and shape[0] == 1:
        shape, batch = shape[1:], batch + 1
    if len(shape) not in (1, 3):
        problems.append(Problem(name, f"input shape {shape}", "needs a vector or a (C, H, W) "
                                "map (after leading batch dimensions of size 1)"))
        return None, batch
    return shape, batch


def _per_output(name: str, x: np.ndarray, layer: _Layer, what: str, problems: list[Problem]
                ) -> np.ndarray | None:
    """A neuron parameter as one value per synapse row (per output channel of a conv)."""
    shape = layer.out_shape
    try:
        full = (x.reshape(shape) if x.size == math.prod(shape) else
                np.broadcast_to(x, shape))
    except ValueError:
        problems.append(Problem(name, f"{what} of shape {x.shape} after {layer.name} of "
                                f"{shape}", "sizes must chain"))
        return None
    rows = full.reshape(shape[0], -1)
    if np.any(rows != rows[:, :1]):
        problems.append(Problem(name, f"{what} differs within an output channel of "
                                f"{layer.name}", "a conv shares its weights over the map: "
                                "needs one value per output channel"))
        return None
    return rows[:, 0].copy()


class _Walk:
    """One pass over the chain: the layers, OR pools and every problem found."""

    def __init__(self, *, dt: float, reset: ResetMode | None, spikes_in: bool,
                 problems: list[Problem]) -> None:
        self.dt, self.reset, self.problems = dt, reset, problems
        self.items: list[_Layer | _OrPool] = []
        self.shape: tuple[int, ...] | None = None  # None once unknown after a problem
        self.batch = 0
        self.spikes = spikes_in  # whether the current value is binary spikes
        self.pools: list[PoolGeometry] = []  # linear pools waiting for the next synapse
        self.scale: tuple[str, np.ndarray] | None = None  # a Scale waiting for its synapse

    def problem(self, name: str, what: str, needed: str) -> None:
        self.problems.append(Problem(name, what, needed))

    @property
    def open(self) -> _Layer | None:
        last = self.items[-1] if self.items else None
        return last if isinstance(last, _Layer) and last.neuron is None else None

    def run(self, chain: list[tuple[str, object]]) -> list[_Layer | _OrPool]:
        self.shape, self.batch = _input_shape(chain[0][0], chain[0][1], self.problems)
        body = chain[1:-1]
        skip = False
        for i, (name, node) in enumerate(body):
            if skip:
                skip = False
                continue
            skip = self.step(name, node, body[i + 1] if i + 1 < len(body) else None)
        self.finish()
        return self.items

    def step(self, name: str, node: object, nxt: tuple[str, object] | None) -> bool:
        """Read one node; return whether it consumed the next one (a pool's Threshold)."""
        k = kind(node)
        if k in _REFUSED:
            self.problem(name, f"{k} node", _REFUSED[k])
        elif k in _SYNAPSES:
            self.dense(name, node)
        elif k == "Conv2d":
            self.conv(name, node)
        elif k in _POOLS:
            return self.pool(name, node, nxt)
        elif k == "Flatten":
            self.flatten(name, node)
        elif k == "Scale":
            self.scale_node(name, node)
        elif k in _NEURONS:
            self.attach(name, node)
        elif k != "Identity":
            self.problem(name, f"{k} node", "not a NIR node this frontend knows")
        return False

    def _synapse_start(self, name: str, k: str) -> None:
        cur = self.open
        if cur is not None:
            self.problem(name, f"{k} follows {cur.name} without a neuron",
                         "needs a LIF or IF node between synapse layers")

    def _pending_scale(self, w: np.ndarray, n_in: int) -> np.ndarray:
        """``w`` with a waiting Scale folded into its inputs (columns, or all if scalar)."""
        if self.scale is None:
            return w
        name, s = self.scale
        self.scale = None
        if s.size == 1:
            return w * s.item()
        if s.size == n_in and w.ndim == 2:
            return w * s[None, :]
        self.problem(name, f"scales {s.size} values, the next synapse takes {n_in}",
                     "a Scale before a synapse must be one value or one per input")
        return w

    def dense(self, name: str, node: object) -> None:
        self._synapse_start(name, kind(node))
        w = arr(node.weight)
        if kind(node) == "Affine":
            zero(name, node, "bias", self.problems, "needs a constant bias current per neuron "
                 "(a dense layer adds none; a zero bias is accepted)")
        if w.ndim != 2:
            self.problem(name, f"weight has shape {w.shape}", "needs a 2-D matrix")
            w = np.zeros((0, 0))
        elif self.shape is not None and len(self.shape) == 3:
            self.problem(name, f"{kind(node)} reads a {self.shape} map",
                         "needs a Flatten before it")
        elif self.shape is not None and w.shape[1] != self.shape[0]:
            self.problem(name, f"takes {w.shape[1]} inputs, {self.shape[0]} arrive",
                         "sizes must chain")
        else:
            w = self._pending_scale(w, w.shape[1])
            for pool in reversed(self.pools):
                w = pool_then_dense(pool, w)
        self.pools = []
        self.items.append(_Layer(name=name, weights=w))
        self.shape, self.spikes = (w.shape[0],), False

    def conv(self, name: str, node: object) -> None:
        self._synapse_start(name, "Conv2d")
        if self.shape is None or len(self.shape) != 3:
            if self.shape is not None:
                self.problem(name, "Conv2d reads a flat vector", "needs a (C, H, W) map")
            self.items.append(_Layer(name=name, weights=np.zeros((0, 0))))
            self.shape = None
            return
        got = conv_node(name, node, self.shape, self.problems)
        if got is None:
            self.items.append(_Layer(name=name, weights=np.zeros((0, 0))))
            self.shape = None
            return
        w, bias, geo = got
        out = (w.shape[0], *geo.out_hw)
        w = self._pending_scale(w, 1)
        for pool in reversed(self.pools):
            folded = pool_then_conv(pool, w, geo)
            if folded is None:
                self.problem(name, f"pads a pooled map of {pool.in_shape} not a multiple of "
                             f"the pool window {pool.kernel}", "needs padding 0 after a "
                             "pool, or a map that the pool divides")
                break
            w, geo = folded
        self.pools = []
        self.items.append(_Layer(name=name, weights=w, geo=geo, bias=bias))
        self.shape, self.spikes = out, False

    def pool(self, name: str, node: object, nxt: tuple[str, object] | None) -> bool:
        read = pool_node(name, node, self.problems)
        if read is None or self.shape is None:
            self.shape = None
            return False
        if len(self.shape) != 3:
            self.problem(name, f"{kind(node)} pools a flat vector", "needs a (C, H, W) map")
            return False
        geo = PoolGeometry(kernel=read.kernel, factor=read.factor, in_shape=self.shape)
        if min(geo.out_shape[1:]) < 1:
            self.problem(name, f"a window of {read.kernel} on a {self.shape} map",
                         "needs a pooled map of at least 1 x 1")
            self.shape = None
            return False
        cur, self.shape = self.open, geo.out_shape
        if cur is not None and cur.geo is not None:  # conv, pool, neuron: one larger conv
            cur.weights, cur.bias, cur.geo = conv_then_pool(cur.weights, cur.bias, cur.geo,
                                                            read.kernel, read.factor)
            return False
        if nxt is None or kind(nxt[1]) != "Threshold":
            self.pools.append(geo)
            self.spikes = False
            return False
        theta = arr(nxt[1].threshold) / read.factor
        if not (self.spikes and theta.size and np.all(theta == theta.flat[0])
                and 0 <= theta.flat[0] < 1):
            self.problem(nxt[0], f"Threshold {theta.ravel()[:2] * read.factor} after "
                         f"{kind(node)} {name} of {'spikes' if self.spikes else 'currents'}",
                         "OR pooling needs a pool of spikes and one threshold below one "
                         f"spike ({read.factor:g})")
        self.items.append(_OrPool(name=name, kernel=read.kernel, in_shape=geo.in_shape))
        return True

    def flatten(self, name: str, node: object) -> None:
        if self.shape is None:
            return
        if len(self.shape) != 3 or not flatten_ok(node, self.batch):
            self.problem(name, f"Flatten of dims {node.start_dim}..{node.end_dim} of "
                         f"{self.shape} (after {self.batch} batch dims)",
                         "needs a Flatten of the whole (C, H, W) map")
            self.shape = None
            return
        self.shape = (math.prod(self.shape),)

    def scale_node(self, name: str, node: object) -> None:
        s = arr(node.scale).ravel()
        cur = self.open
        if cur is not None and (s.size == 1 or s.shape == cur.weights.shape[:1]):
            cur.weights = cur.weights * s.reshape(-1, *([1] * (cur.weights.ndim - 1)))
            cur.bias = None if cur.bias is None else cur.bias * s
        elif cur is not None or self.scale is not None:
            self.problem(name, f"Scale of {s.size} values here",
                         "a Scale must match the synapse layer it folds into")
        else:
            self.scale = (name, s)

    def attach(self, name: str, node: object) -> None:
        cur = self.open
        if cur is None:
            self.problem(name, f"{kind(node)} has no synapse before it",
                         "every neuron layer needs its Affine, Linear or Conv2d")
            return
        model, k, gain, theta = neuron(name, node, self.dt, self.problems)
        own = meta(node, "reset")
        cur.reset = ResetMode(own) if own in {m.value for m in ResetMode} else self.reset
        cur.reset = cur.reset or ResetMode.ZERO
        if cur.reset is ResetMode.ZERO:
            zero(name, node, "v_reset", self.problems, "NIR resets to v_reset; our reset is "
                 "to 0 (or by subtraction)")
        cur.neuron, cur.model, cur.leak_shift = name, model, k
        self.spikes = True
        if cur.weights.size == 0:
            return
        gain = _per_output(name, gain, cur, "the input gain", self.problems)
        theta = _per_output(name, theta, cur, "v_threshold", self.problems)
        if gain is None or theta is None:
            return
        if np.all(theta == theta[0]):
            cur.threshold = float(theta[0])
        else:  # membrane of neuron i divided by theta_i: the same spikes, threshold 1
            gain, cur.threshold = gain / theta, 1.0
        cur.weights = cur.weights * gain.reshape(-1, *([1] * (cur.weights.ndim - 1)))
        cur.bias = None if cur.bias is None else cur.bias * gain

    def finish(self) -> None:
        if self.pools:
            self.problem("graph", f"{len(self.pools)} linear pool(s) after the last synapse",
                         "a SumPool2d/AvgPool2d must fold into a Conv2d or Affine after it, "
                         "or be OR pooling (a Threshold after it)")
        if self.scale is not None:
            self.problem(self.scale[0], "Scale after the last neuron layer",
                         "a Scale must fold into a synapse layer (spikes are 0/1)")
        layers = [x for x in self.items if isinstance(x, _Layer)]
        if layers and layers[-1].neuron is None:
            self.problem(layers[-1].name, "the last synapse layer has no neuron",
                         "the output rule counts spikes of a LIF or IF layer")
        if not layers:
            self.problem("graph", "no synapse layer", "needs Affine/Linear/Conv2d + LIF/IF")
        if self.items and isinstance(self.items[-1], _OrPool):
            self.problem(self.items[-1].name, "OR pooling is the last layer",
                         "the output rule counts spikes of a LIF or IF layer")
        self._dense_tail()

    def _dense_tail(self) -> None:
        """A last conv with a 1 x 1 output map is a dense output layer (the conv core is not
        an output core)."""
        x = self.items[-1] if self.items else None
        if not isinstance(x, _Layer) or x.geo is None or x.weights.size == 0:
            return
        if x.geo.out_hw != (1, 1):
            self.problem(x.name, f"the output layer is a Conv2d with a {x.out_shape} map",
                         "the output layer must be dense: a Flatten and an Affine/Linear, or "
                         "a Conv2d with a 1 x 1 output map")
        elif x.bias is not None:
            self.problem(x.name, "the output Conv2d (1 x 1 map, read as a dense layer) has a "
                         "bias", "a dense layer has no bias (needs a zero bias)")
        else:
            x.weights, x.geo = conv_as_dense(x.weights, x.geo), None


def _uniform(layers: list[_Layer], problems: list[Problem]) -> None:
    """A network checkpoint shares the neuron model, leak shift and reset across its layers."""
    for field in ("model", "leak_shift", "reset"):
        seen = {getattr(x, field) for x in layers if getattr(x, field) is not None}
        if len(seen) > 1:
            got = ", ".join(f"{x.neuron}: {getattr(x, field)}" for x in layers)
            problems.append(Problem("graph", f"{field} differs between layers ({got})",
                                    f"one {field} for every layer (a per-layer {field} in the "
                                    "network checkpoint)"))


def _spine(items: list[_Layer | _OrPool], *, encoder: EncoderParams, weight_bits: int,
           membrane: FixedFormat) -> list[SpineLayer]:
    k = next((x.leak_shift for x in items if getattr(x, "leak_shift", None) is not None), 4)
    spine: list[SpineLayer] = []
    scale = 1.0 / input_max(encoder)  # the first synapse reads the encoder
    for x in items:
        if isinstance(x, _OrPool):
            spine.append(PoolArg(kernel=x.kernel, in_shape=x.in_shape))
            continue
        if x.geo is None:
            syn: DenseArg | ConvArg = DenseArg(weights=x.weights, bits=weight_bits,
                                               input_scale=scale)
        else:
            syn = ConvArg(weights=x.weights, bits=weight_bits, in_shape=x.geo.in_shape,
                          stride=x.geo.stride, padding=x.geo.padding, bias=x.bias,
                          input_scale=scale)
        spine.append((syn, LIFArg(threshold=x.threshold, model=x.model, leak_shift=k,
                                  reset=x.reset, membrane=membrane)))
        scale = 1.0
    return spine


def from_nir(graph, *, dt: float, timesteps: int, encoder: EncoderParams, weight_bits: int,
             membrane_bits: int, reset: ResetMode | None = None) -> Graph:
    """Return the float-stage IR graph of a NIR graph (see the module docstring).

    Parameters
    ----------
    graph : nir.NIRGraph
        A chain ``Input -> (Affine | Linear | Conv2d) [Scale] [pool] -> (LIF | IF | CubaLIF)
        -> [pool [Threshold]] [Flatten] -> ... -> Output``.
    dt : float
        Euler step in the graph's time unit (snnTorch writes with 1e-4, Norse with 1e-3).
    timesteps : int
        Timesteps per sample.
    encoder : EncoderParams
        How pixels become the graph's input (pixels / 255 as current for direct coding).
    weight_bits, membrane_bits : int
        Integer formats for ``passes.quantize``.
    reset : ResetMode, optional
        Reset of neurons without ``spikesmith.reset`` metadata; default ``ZERO`` (NIR's
        reset to ``v_reset = 0``).

    Raises
    ------
    NIRImportError
        Listing every node or parameter that cannot be represented, before anything is built.
    """
    if not (isinstance(dt, float | int) and math.isfinite(dt) and dt > 0):
        raise NIRImportError([Problem("options", f"dt = {dt!r}", "needs a positive time step")])
    chain, problems = _chain(graph)
    items: list[_Layer | _OrPool] = []
    if chain:
        walk = _Walk(dt=float(dt), reset=reset,
                     spikes_in=encoder.encoding is not Encoding.DIRECT, problems=problems)
        items = walk.run(chain)
    _uniform([x for x in items if isinstance(x, _Layer)], problems)
    if problems:
        raise NIRImportError(problems)
    spine = _spine(items, encoder=encoder, weight_bits=weight_bits,
                   membrane=FixedFormat(membrane_bits))
    # Named like the torch frontend's default (``input``, ``layers.0``, ...).
    return build_spine(spine, encoder=encoder, timesteps=timesteps)
