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
* ``Scale`` nodes are folded into the adjacent weight matrix, ``Affine`` needs a zero bias.

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

from spikesmith.sim.encoders import EncoderParams, input_max
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import NeuronModel, ResetMode

from ..errors import CompilerError
from ..ir import DenseArg, Graph, LIFArg, build_spine

__all__ = ["ACCEPTED", "META", "TAU_RTOL", "NIRImportError", "Problem", "from_nir",
           "read_nir"]

#: The NIR nodes this frontend lowers (dense path), as written in error messages.
ACCEPTED = ("Input, Affine (zero bias), Linear, Scale, Identity, LIF, IF, CubaLIF "
            "(dt = tau_syn), Output")
#: Prefix of the node metadata keys our writer sets and this reader honours.
META = "spikesmith."
#: Relative tolerance of ``dt / tau == 2**-k`` (float32 parameters: ``tau`` is stored rounded).
TAU_RTOL = 1e-5

_SYNAPSES = ("Affine", "Linear")
_NEURONS = ("LIF", "IF", "CubaLIF")
#: Why known NIR nodes are refused, with what would be needed.
_REFUSED = {
    "LI": "a leaky integrator without spikes has no counterpart: the output rule counts spikes "
          "(needs a membrane read-out rule)",
    "I": "an integrator without spikes has no counterpart (needs a membrane read-out rule)",
    "CubaLI": "a current-based leaky integrator without spikes has no counterpart",
    "Threshold": "a stateless threshold is a neuron with full leak (beta = 0); our leak is "
                 "beta = 1 - 2**-k >= 1/2 (needs a leak shift k = 0 mode in sim.lif)",
    "Delay": "synaptic delays are not in the contract",
    "Conv1d": "1-D convolution is not in the contract",
    "Conv2d": "convolution from NIR is not lowered yet (the conv path is being added)",
    "SumPool2d": "pooling from NIR is not lowered yet (the conv path is being added)",
    "AvgPool2d": "pooling from NIR is not lowered yet (the conv path is being added)",
    "Flatten": "Flatten is lowered with the conv path (feed flat vectors to Affine)",
    "NIRGraph": "nested graphs (recurrent layers such as snnTorch's RLeaky) are not supported",
}


@dataclass(frozen=True)
class Problem:
    """One node or parameter the frontend cannot represent.

    Attributes
    ----------
    node : str
        NIR node name.
    what : str
        What is wrong (with the offending value).
    needed : str
        What would be needed to represent it.
    """

    node: str
    what: str
    needed: str

    def __str__(self) -> str:
        return f"{self.node}: {self.what}; {self.needed}"


class NIRImportError(CompilerError):
    """A NIR graph holds nodes or parameters we cannot represent; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the NIR graph (accepted nodes: "
                         f"{ACCEPTED}):\n{lines}")


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


def _kind(node: object) -> str:
    return type(node).__name__


def _chain(graph) -> tuple[list[tuple[str, object]], list[Problem]]:
    """Return the nodes from the single Input to the single Output, in order."""
    nodes: Mapping[str, object] = graph.nodes
    problems: list[Problem] = []
    inputs = [n for n, v in nodes.items() if _kind(v) == "Input"]
    outputs = [n for n, v in nodes.items() if _kind(v) == "Output"]
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


def _arr(x: object) -> np.ndarray:
    return np.asarray(getattr(x, "detach", lambda: x)(), dtype=np.float64)


def _meta(node: object, key: str) -> str | None:
    v = getattr(node, "metadata", {}).get(META + key)
    if v is None:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class _Layer:
    """A synapse matrix (float, gain folded) and the neuron after it, while being built."""

    name: str
    weights: np.ndarray
    neuron: str | None = None
    model: NeuronModel | None = None
    leak_shift: int | None = None
    threshold: float | None = None
    reset: ResetMode | None = None


def _leak_shift(name: str, dt: float, tau: np.ndarray, problems: list[Problem]) -> int | None:
    """``k`` with ``dt / tau == 2**-k`` for every neuron, or ``None`` and a problem."""
    ratio = dt / tau
    if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0):
        problems.append(Problem(name, f"dt/tau = {ratio.min():.6g}..{ratio.max():.6g}",
                                "needs positive finite tau"))
        return None
    k = np.rint(-np.log2(ratio)).astype(np.int64)
    ok = (k >= 1) & (k <= 31) & np.isclose(ratio, 2.0 ** -k.astype(np.float64),
                                           rtol=TAU_RTOL, atol=0)
    if ok.all() and np.all(k == k.flat[0]):
        return int(k.flat[0])
    bad = float(ratio.flat[int(np.argmin(ok))]) if not ok.all() else float(ratio.flat[0])
    near = int(min(31, max(1, round(-math.log2(bad)))))
    problems.append(Problem(
        name, f"beta = 1 - dt/tau = {1 - bad:.6g} (dt/tau = {bad:.6g}, dt = {dt:g}) "
              f"{'differs between neurons' if ok.all() else 'is not 1 - 2**-k'}",
        f"our leak is a shift, beta = 1 - 2**-k; the nearest is k = {near} (beta = "
        f"{1 - 2.0 ** -near:.6g}, tau = {dt * 2 ** near:.6g}); one k for the whole network, or "
        "a multiplier leak (not in the contract) is needed"))
    return None


def _zero(name: str, node: object, field: str, problems: list[Problem], needed: str) -> None:
    v = getattr(node, field, None)
    if v is not None and np.any(_arr(v) != 0):
        problems.append(Problem(name, f"{field} = {_arr(v).ravel()[:4]} is not 0", needed))


def _neuron(name: str, node: object, dt: float, problems: list[Problem]
            ) -> tuple[NeuronModel | None, int | None, np.ndarray, np.ndarray]:
    """Return ``(model, k, gain, threshold)`` per neuron of a LIF, IF or CubaLIF node."""
    kind = _kind(node)
    r = _arr(node.r)
    if kind == "IF":
        model, k, gain = NeuronModel.IF, None, dt * r
    else:
        tau = _arr(node.tau if kind == "LIF" else node.tau_mem)
        model, k, gain = NeuronModel.LIF, _leak_shift(name, dt, tau, problems), dt * r / tau
        _zero(name, node, "v_leak", problems, "needs a leak towards a non-zero potential "
              "(a bias current; not in the dense core)")
    if kind == "CubaLIF":
        syn = dt / _arr(node.tau_syn)
        if not np.allclose(syn, 1.0, rtol=TAU_RTOL, atol=0):
            problems.append(Problem(name, f"dt/tau_syn = {syn.ravel()[:4]} is not 1",
                                    "a synaptic current with memory needs a second state "
                                    "variable per neuron (not in the contract)"))
        gain = gain * _arr(node.w_in)
    theta = _arr(node.v_threshold)
    if np.any(~np.isfinite(theta)) or np.any(theta <= 0):
        problems.append(Problem(name, "v_threshold has non-positive or non-finite entries",
                                "needs positive thresholds"))
    return model, k, gain * np.ones_like(theta), theta


def _synapse(name: str, node: object, problems: list[Problem]) -> np.ndarray:
    w = _arr(node.weight)
    if w.ndim != 2:
        problems.append(Problem(name, f"weight has shape {w.shape}", "needs a 2-D matrix"))
        return np.zeros((0, 0))
    if _kind(node) == "Affine":
        _zero(name, node, "bias", problems, "needs a constant bias current per neuron "
              "(the dense LIF core adds none; a zero bias is accepted)")
    return w


def _walk(chain, dt: float, reset: ResetMode | None, problems: list[Problem]) -> list[_Layer]:
    """Fold the chain into synapse + neuron layers, recording every problem."""
    layers: list[_Layer] = []
    pending_scale: tuple[str, np.ndarray] | None = None  # a Scale waiting for its synapse
    for name, node in chain[1:-1]:
        kind = _kind(node)
        cur = layers[-1] if layers else None
        open_layer = cur is not None and cur.neuron is None
        if kind in _REFUSED:
            problems.append(Problem(name, f"{kind} node", _REFUSED[kind]))
        elif kind in _SYNAPSES:
            if open_layer:
                problems.append(Problem(name, f"{kind} follows {cur.name} without a neuron",
                                        "needs a LIF or IF node between synapse layers"))
            w = _synapse(name, node, problems)
            if pending_scale is not None:
                if w.shape[1:] == pending_scale[1].shape:
                    w = w * pending_scale[1][None, :]
                else:
                    problems.append(Problem(pending_scale[0], f"scales {pending_scale[1].size} "
                                            f"values, {name} takes {w.shape[1:]}",
                                            "sizes must chain"))
            pending_scale = None
            layers.append(_Layer(name=name, weights=w))
        elif kind == "Identity":
            continue
        elif kind == "Scale":
            s = _arr(node.scale).ravel()
            if open_layer and s.shape == cur.weights.shape[:1]:
                cur.weights = cur.weights * s[:, None]
            elif open_layer or pending_scale is not None:
                problems.append(Problem(name, f"Scale of {s.size} values here",
                                        "a Scale must match the synapse layer it folds into"))
            else:
                pending_scale = (name, s)
        elif kind in _NEURONS:
            if not open_layer:
                problems.append(Problem(name, f"{kind} has no Affine or Linear before it",
                                        "every neuron layer needs its synapse matrix"))
                continue
            _attach(cur, name, node, dt, reset, problems)
        else:
            problems.append(Problem(name, f"{kind} node", "not a NIR node this frontend knows"))
    if pending_scale is not None:
        problems.append(Problem(pending_scale[0], "Scale after the last neuron layer",
                                "a Scale must fold into a synapse layer (spikes are 0/1)"))
    if layers and layers[-1].neuron is None:
        problems.append(Problem(layers[-1].name, "the last synapse layer has no neuron",
                                "the output rule counts spikes of a LIF or IF layer"))
    if not layers:
        problems.append(Problem("graph", "no synapse layer", "needs Affine/Linear + LIF/IF"))
    return layers


def _attach(cur: _Layer, name: str, node: object, dt: float, reset: ResetMode | None,
            problems: list[Problem]) -> None:
    model, k, gain, theta = _neuron(name, node, dt, problems)
    own = _meta(node, "reset")
    cur.reset = ResetMode(own) if own in {m.value for m in ResetMode} else reset
    cur.reset = cur.reset or ResetMode.ZERO
    if cur.reset is ResetMode.ZERO:
        _zero(name, node, "v_reset", problems, "NIR resets to v_reset; our reset is to 0 "
              "(or by subtraction)")
    n = cur.weights.shape[0]
    if {gain.size, theta.size} - {1, n}:
        problems.append(Problem(name, f"{theta.size} neurons after {n} synapse rows",
                                "sizes must chain"))
        return
    # A scalar parameter (Norse writes 0-d tensors) holds for every neuron of the layer.
    gain = np.broadcast_to(gain.reshape(-1), (n,)) if gain.size > 1 else np.full(n, gain.item())
    theta = np.broadcast_to(theta.reshape(-1), (n,)) if theta.size > 1 else np.full(
        n, theta.item())
    if np.all(theta == theta[0]):
        cur.threshold = float(theta[0])
    else:  # membrane of neuron i divided by theta_i: the same spikes, threshold 1
        gain, cur.threshold = gain / theta, 1.0
    cur.weights = cur.weights * gain[:, None]
    cur.neuron, cur.model, cur.leak_shift = name, model, k


def _uniform(layers: list[_Layer], problems: list[Problem]) -> None:
    """A ``SpikingMLP`` shares the neuron model, leak shift and reset across its layers."""
    for field in ("model", "leak_shift", "reset"):
        seen = {getattr(x, field) for x in layers if getattr(x, field) is not None}
        if len(seen) > 1:
            got = ", ".join(f"{x.neuron}: {getattr(x, field)}" for x in layers)
            problems.append(Problem("graph", f"{field} differs between layers ({got})",
                                    f"one {field} for every layer (a per-layer {field} in the "
                                    "SpikingMLP checkpoint)"))


def from_nir(graph, *, dt: float, timesteps: int, encoder: EncoderParams, weight_bits: int,
             membrane_bits: int, reset: ResetMode | None = None) -> Graph:
    """Return the float-stage IR graph of a NIR graph (see the module docstring).

    Parameters
    ----------
    graph : nir.NIRGraph
        A chain ``Input -> (Affine | Linear) [Scale] -> (LIF | IF | CubaLIF) -> ... -> Output``.
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
    layers = _walk(chain, float(dt), reset, problems) if chain else []
    _uniform(layers, problems)
    if chain and layers:
        n_in = int(np.prod(_arr(chain[0][1].input_type["input"])))
        if layers[0].weights.shape[1] != n_in:
            problems.append(Problem(chain[0][0], f"{n_in} inputs but {layers[0].name} takes "
                                    f"{layers[0].weights.shape[1]}", "sizes must chain"))
    if problems:
        raise NIRImportError(problems)
    membrane = FixedFormat(membrane_bits)
    k = next((x.leak_shift for x in layers if x.leak_shift is not None), 4)
    spine = []
    for i, x in enumerate(layers):
        scale = 1.0 / input_max(encoder) if i == 0 else 1.0
        spine.append((DenseArg(weights=x.weights, bits=weight_bits, input_scale=scale),
                      LIFArg(threshold=x.threshold, model=x.model, leak_shift=k, reset=x.reset,
                             membrane=membrane)))
    # Named like the torch frontend (``input``, ``layers.0``, ...): the IR of an imported
    # network is the IR of the SpikingMLP checkpoint the import stage writes.
    return build_spine(spine, encoder=encoder, timesteps=timesteps)
