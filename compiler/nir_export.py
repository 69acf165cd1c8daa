"""Backend: a lowered integer IR graph to a NIR graph that carries its integer formats.

The float parameters are chosen so that NIR's equations, discretised as
``compiler.frontend.nir`` reads them (forward Euler at :data:`DT`), compute our integers:

* a DENSE becomes ``Linear(weight = W_int * input_max)`` for the first layer (the NIR input is
  the encoder's value divided by ``input_max``, e.g. pixels / 255) and ``Linear(W_int)`` after;
* a LIF becomes ``LIF(tau = DT * 2**k, r = tau / DT, v_leak = 0, v_reset = 0)`` (so
  ``beta = 1 - 2**-k`` and the input gain is 1), an IF ``IF(r = 1 / DT)``;
* ``v_threshold = theta_int - 1/4``: NIR fires on ``v > v_threshold``, we fire on
  ``u >= theta_int``, the same test on integer membranes; reading it back rounds to
  ``theta_int``.

What NIR's float equations do not state is in each node's ``metadata`` (keys prefixed
``spikesmith.``): weight, accumulator and membrane bits, the integer threshold, leak shift,
neuron model and reset (NIR 1.0 resets to ``v_reset`` only: a reset by subtraction is in the
metadata alone), and on the Input node the encoder, its seed and the timesteps. The float
equations reproduce the integer model except for the floor of the shift leak
(``v >> k`` against ``v * 2**-k``) and membrane saturation, which the metadata states.
"""

from __future__ import annotations

import numpy as np

from spikesmith.sim.encoders import input_max

from .frontend.nir import META
from .ir import Graph, Node, Op, stage_of

__all__ = ["DT", "THRESHOLD_OFFSET", "to_nir"]

#: Euler step the written graph states (snnTorch's); also written as ``spikesmith.dt``.
DT = 1e-4
#: ``v_threshold = theta_int - THRESHOLD_OFFSET`` (any value in ``(0, 1/2)`` works).
THRESHOLD_OFFSET = 0.25


def _name(n: Node) -> str:
    return n.name.replace(".", "_")


def _input_node(nir, g: Graph, n: Node):
    a = n.arg
    return nir.Input(input_type={"input": np.array([a.features])}, metadata={
        META + "encoding": a.encoder.encoding.value, META + "encoder_seed": a.encoder.seed,
        META + "timesteps": a.timesteps, META + "dt": DT, META + "format": "spikesmith-nir/1"})


def _dense_node(nir, n: Node, scale: int):
    a = n.arg
    meta = {META + "weight_bits": a.bits}
    if n.fmt is not None:
        meta[META + "acc_bits"] = n.fmt.width
    return nir.Linear(weight=a.weights.astype(np.float64) * scale, metadata=meta)


def _lif_node(nir, n: Node):
    a = n.arg
    size = n.src[0].arg.n_out
    ones = np.ones(size)
    theta = (a.threshold - THRESHOLD_OFFSET) * ones
    meta = {META + "threshold": a.threshold, META + "model": a.model.value,
            META + "leak_shift": a.leak_shift, META + "reset": a.reset.value,
            META + "membrane_bits": a.membrane.width}
    if a.model.value == "if":
        return nir.IF(r=ones / DT, v_threshold=theta, v_reset=0 * ones, metadata=meta)
    tau = DT * 2.0 ** a.leak_shift * ones
    return nir.LIF(tau=tau, r=tau / DT, v_leak=0 * ones, v_threshold=theta, v_reset=0 * ones,
                   metadata=meta)


def to_nir(g: Graph):
    """Return the NIR graph of a lowered dense integer graph (see the module docstring).

    Raises
    ------
    ValueError
        If ``g`` is still in the float stage or holds ops other than INPUT, DENSE, LIF and
        OUTPUT (conv networks are written by a later version).
    """
    import nir

    if stage_of(g).value != "integer":
        raise ValueError("to_nir needs an integer-stage graph (run compiler.pipeline.lower)")
    other = [n.name for n in g.nodes if n.op not in (Op.INPUT, Op.DENSE, Op.LIF, Op.OUTPUT)]
    if other:
        raise ValueError(f"to_nir writes dense networks only; nodes {other} are not")
    nodes, edges, prev = {}, [], None
    x_max = 1
    for n in g.nodes:
        if n.op is Op.INPUT:
            node, x_max = _input_node(nir, g, n), input_max(n.arg.encoder)
        elif n.op is Op.DENSE:
            node, x_max = _dense_node(nir, n, x_max), 1
        elif n.op is Op.LIF:
            node = _lif_node(nir, n)
        else:
            node = nir.Output(output_type={"output": np.array([n.src[0].src[0].arg.n_out])})
        nodes[_name(n)] = node
        if prev is not None:
            edges.append((prev, _name(n)))
        prev = _name(n)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={META + "format": "spikesmith-nir/1"})
