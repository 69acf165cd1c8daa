"""The readers of single NIR nodes: problems, neuron discretisation, conv and pool parameters.

Shared by :mod:`compiler.frontend.nir` (the walk over the graph) and its tests. Each reader
returns what it could read and appends a :class:`Problem` for everything it cannot represent;
the walk raises :class:`NIRImportError` with all of them at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikesmith.sim.lif import NeuronModel

from ..errors import CompilerError
from .nir_maps import ConvGeometry, pair

__all__ = ["ACCEPTED", "META", "TAU_RTOL", "NIRImportError", "PoolRead", "Problem", "arr",
           "conv_node", "flatten_ok", "kind", "meta", "neuron", "pool_node", "zero"]

#: The NIR nodes the frontend lowers, as written in error messages.
ACCEPTED = ("Input, Affine (zero bias), Linear, Scale, Identity, LIF, IF, CubaLIF "
            "(dt = tau_syn), Conv2d, SumPool2d / AvgPool2d (window = stride, folded into the "
            "adjacent synapse, or OR pooling when a Threshold follows), Flatten, Output")
#: Prefix of the node metadata keys our writer sets and this reader honours.
META = "spikesmith."
#: Relative tolerance of ``dt / tau == 2**-k`` (float32 parameters: ``tau`` is stored rounded).
TAU_RTOL = 1e-5


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


def kind(node: object) -> str:
    """The NIR node type's name (``"LIF"``, ``"Conv2d"``, ...)."""
    return type(node).__name__


def arr(x: object) -> np.ndarray:
    """A NIR parameter (NumPy array, torch tensor, number) as a ``float64`` array."""
    return np.asarray(getattr(x, "detach", lambda: x)(), dtype=np.float64)


def meta(node: object, key: str) -> str | None:
    """The node's ``spikesmith.<key>`` metadata as a string, ``None`` when absent."""
    v = getattr(node, "metadata", {}).get(META + key)
    if v is None:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def zero(name: str, node: object, field: str, problems: list[Problem], needed: str) -> None:
    """Append a problem unless the parameter ``field`` is absent or all zero."""
    v = getattr(node, field, None)
    if v is not None and np.any(arr(v) != 0):
        problems.append(Problem(name, f"{field} = {arr(v).ravel()[:4]} is not 0", needed))


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


def neuron(name: str, node: object, dt: float, problems: list[Problem]
           ) -> tuple[NeuronModel | None, int | None, np.ndarray, np.ndarray]:
    """Return ``(model, k, gain, threshold)`` of a LIF, IF or CubaLIF node (arrays in the
    node's own shape, broadcast against each other)."""
    name_kind = kind(node)
    r = arr(node.r)
    if name_kind == "IF":
        model, k, gain = NeuronModel.IF, None, dt * r
    else:
        tau = arr(node.tau if name_kind == "LIF" else node.tau_mem)
        model, k, gain = NeuronModel.LIF, _leak_shift(name, dt, tau, problems), dt * r / tau
        zero(name, node, "v_leak", problems, "needs a leak towards a non-zero potential "
             "(a bias current; not in the dense core)")
    if name_kind == "CubaLIF":
        syn = dt / arr(node.tau_syn)
        if not np.allclose(syn, 1.0, rtol=TAU_RTOL, atol=0):
            problems.append(Problem(name, f"dt/tau_syn = {syn.ravel()[:4]} is not 1",
                                    "a synaptic current with memory needs a second state "
                                    "variable per neuron (not in the contract)"))
        gain = gain * arr(node.w_in)
    theta = arr(node.v_threshold)
    if np.any(~np.isfinite(theta)) or np.any(theta <= 0):
        problems.append(Problem(name, "v_threshold has non-positive or non-finite entries",
                                "needs positive thresholds"))
    return model, k, gain * np.ones_like(theta), theta


def _padding(value: object, k: int, stride: int) -> int | None:
    if isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        if text == "valid":
            return 0
        return (k - 1) // 2 if text == "same" and stride == 1 and k % 2 else None
    p = pair(value)
    return p[0] if p is not None and p[0] == p[1] else None


def conv_node(name: str, node: object, in_shape: tuple[int, int, int], problems: list[Problem]
              ) -> tuple[np.ndarray, np.ndarray | None, ConvGeometry] | None:
    """Return ``(weights, bias or None, geometry)`` of a ``Conv2d`` reading ``in_shape``, or
    ``None`` with the problems appended.

    The bias is ``None`` when the node's metadata says ``spikesmith.bias = none`` or, without
    that metadata, when it is all zero.
    """
    w = arr(node.weight)
    before = len(problems)
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        problems.append(Problem(name, f"weight has shape {w.shape}",
                                "needs (C_out, C_in, K, K): a square kernel"))
        return None
    k = int(w.shape[2])
    stride = pair(node.stride)
    if stride is None or stride[0] != stride[1] or stride[0] < 1:
        problems.append(Problem(name, f"stride {node.stride}", "needs one stride >= 1"))
    s = stride[0] if stride is not None else 1
    p = _padding(node.padding, k, s)
    if p is None or not 0 <= p < k:
        problems.append(Problem(name, f"padding {node.padding!r}", "needs one zero padding "
                                "0 <= P < K (or 'valid', or 'same' with stride 1, odd K)"))
    if pair(node.dilation) != (1, 1) or int(node.groups) != 1:
        problems.append(Problem(name, f"dilation {node.dilation}, groups {node.groups}",
                                "needs dilation 1 and groups 1"))
    if w.shape[1] != in_shape[0]:
        problems.append(Problem(name, f"takes {w.shape[1]} channels, {in_shape[0]} arrive",
                                "sizes must chain"))
    if len(problems) > before:
        return None
    geo = ConvGeometry(in_shape=in_shape, kernel=k, stride=s, padding=p)
    if min(geo.out_hw) < 1:
        problems.append(Problem(name, f"a {k}x{k} kernel does not fit the {in_shape} map",
                                "needs an output of at least 1 x 1"))
        return None
    b = np.broadcast_to(arr(node.bias), (w.shape[0],)).copy()
    has_bias = meta(node, "bias") != "none" and (np.any(b != 0) or meta(node, "bias") == "yes")
    return w, (b if has_bias else None), geo


@dataclass(frozen=True)
class PoolRead:
    """A ``SumPool2d`` or ``AvgPool2d``: window = stride ``kernel``, ``p = factor * sum``."""

    kernel: int
    factor: float


def pool_node(name: str, node: object, problems: list[Problem]) -> PoolRead | None:
    """Return the window and factor of a pooling node, or ``None`` with a problem."""
    k, s, p = pair(node.kernel_size), pair(node.stride), pair(node.padding)
    if k is None or k[0] != k[1] or k[0] < 1 or s != k or p != (0, 0):
        problems.append(Problem(name, f"kernel {node.kernel_size}, stride {node.stride}, "
                                f"padding {node.padding}", "needs a square window with "
                                "stride = window and no padding"))
        return None
    return PoolRead(kernel=k[0], factor=1.0 / k[0] ** 2 if kind(node) == "AvgPool2d" else 1.0)


def flatten_ok(node: object, batch: int) -> bool:
    """Whether a ``Flatten`` turns the whole ``(C, H, W)`` map (after ``batch`` leading batch
    dimensions of the Input) into one vector."""
    return (int(node.start_dim) in (batch, -3) and int(node.end_dim) in (-1, batch + 2))
