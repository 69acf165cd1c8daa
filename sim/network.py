"""A feed-forward network of LIF layers over ``T`` timesteps, vectorised over the batch.

A network is a sequence of layers, each a :class:`DenseLayer`, a ``sim.conv.ConvLayer`` or a
``sim.conv.PoolLayer``. For each timestep ``t`` (see ``sim.lif`` for the neuron,
``sim.encoders`` for layer-0 input and ``sim.conv`` for convolution and pooling)::

    x_0[t] = encode(images)[t]
    I_l[t] = x_{l-1}[t] @ W_l.T                   dense (exact integers, sim.ops.exact_matmul)
    I_l[t] = conv(x_{l-1}[t], W_l, b_l)           conv  (exact integers, sim.conv)
    s_l[t], v_l[t] = lif_step(I_l[t], v_l[t-1], t=t)   dense and conv
    s_l[t] = or_pool(x_{l-1}[t])                  pool (no state, no membrane)
    x_l[t] = s_l[t]

Every ``x_l`` is a flat vector; a feature map ``(C, H, W)`` is flattened channel-major
(``c*H*W + y*W + x``), so a Flatten between a conv or pool layer and a dense layer is free.
Consecutive layers chain when the outputs of one are the inputs of the next (and, between
feature-map layers, their shapes are equal).

The prediction is the output neuron with the most spikes over the ``T`` timesteps; ties go to
the larger final membrane, then to the lower index (``NetworkParams.rule`` ``MAX_COUNT``, the
default), or that of another ``sim.decision.OutputRule``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .conv import ConvLayer, PoolLayer, conv_accumulator_bound, conv_synaptic_input, or_pool
from .decision import OutputRule, decide
from .encoders import EncoderParams, Encoding, encode, encode_columns, input_max
from .lif import LIFParams, LIFState, lif_step
from .limits import WEIGHT_BITS
from .ops import accumulator_bound, exact_matmul

__all__ = ["DenseLayer", "Layer", "NetworkParams", "Trace", "predict", "run_network"]


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """One dense synapse matrix followed by a layer of LIF neurons.

    Parameters
    ----------
    weights : np.ndarray
        Integer weights ``(n_out, n_in)`` in membrane LSBs per input unit.
    weight_bits : int
        Signed width every weight fits in.
    lif : LIFParams
        Neuron parameters of the layer.
    """

    weights: np.ndarray
    weight_bits: int
    lif: LIFParams

    def __post_init__(self) -> None:
        WEIGHT_BITS.check(self.weight_bits)
        w = np.asarray(self.weights)
        if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
            raise ValueError(f"weights must be a 2-D integer array, not {w.dtype} {w.shape}")
        top = (1 << (self.weight_bits - 1)) - 1
        if w.size and (w.min() < -top - 1 or w.max() > top):
            raise ValueError(f"weights do not fit {self.weight_bits} signed bits")
        c = self.lif.channel_thresholds
        if c and len(c) != w.shape[0]:
            raise ValueError(f"channel_thresholds has {len(c)} entries for {w.shape[0]} neurons")

    @property
    def n_in(self) -> int:
        """Number of inputs."""
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        """Number of neurons."""
        return int(self.weights.shape[0])


#: One layer of a network: dense or conv synapses with LIF neurons, or OR pooling.
Layer = DenseLayer | ConvLayer | PoolLayer


def _check_chain(a: Layer, b: Layer) -> None:
    """Raise ``ValueError`` unless the outputs of ``a`` are the inputs of ``b``."""
    if a.n_out != b.n_in:
        raise ValueError(f"layer sizes do not chain: {a.n_out} outputs feed {b.n_in}")
    a_shape = getattr(a, "out_shape", None)
    b_shape = getattr(b, "in_shape", None)
    if a_shape is not None and b_shape is not None and a_shape != b_shape:
        raise ValueError(f"layer shapes do not chain: a {a_shape} map feeds a {b_shape} input")


@dataclass(frozen=True, eq=False)
class NetworkParams:
    """An integer network: encoder, timesteps, layers and the output rule.

    Raises
    ------
    ValueError
        On no layers, layers that do not chain, a pool layer last (it has no membrane for the
        output rule), a pool layer first under direct-current coding (it pools spikes), or
        ``timesteps < 1``.
    TypeError
        On a layer that is not a ``Layer``, or a ``rule`` that is not an ``OutputRule``.
    """

    layers: tuple[Layer, ...]
    encoder: EncoderParams
    timesteps: int
    rule: OutputRule = OutputRule.MAX_COUNT

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, DenseLayer | ConvLayer | PoolLayer):
                raise TypeError(
                    f"a layer must be a DenseLayer, ConvLayer or PoolLayer, not {layer!r}")
        for a, b in itertools.pairwise(self.layers):
            _check_chain(a, b)
        if isinstance(self.layers[-1], PoolLayer):
            raise ValueError("the last layer must have neurons (dense or conv), not be a pool")
        if isinstance(self.layers[0], PoolLayer) and self.encoder.encoding is Encoding.DIRECT:
            raise ValueError("a pool layer pools spikes; it cannot read direct-current input")
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, not {self.timesteps!r}")
        for layer in self.layers:
            shifts = getattr(getattr(layer, "lif", None), "input_shifts", ())
            if shifts and len(shifts) != self.timesteps:
                raise ValueError(f"an input shift table has {len(shifts)} entries for "
                                 f"{self.timesteps} timesteps")
        if not isinstance(self.rule, OutputRule):
            raise TypeError(f"rule must be an OutputRule, not {self.rule!r}")

    def bounds(self) -> list[int]:
        """Per-layer bound on the synaptic input ``|I_l|`` and its partial sums (0 for a pool).

        ``sim.ops.accumulator_bound`` for dense layers, ``sim.conv.conv_accumulator_bound`` for
        conv layers; the input of layer 0 is bounded by ``sim.encoders.input_max``, every other
        input is a spike.
        """
        out = []
        for idx, layer in enumerate(self.layers):
            m = input_max(self.encoder) if idx == 0 else 1
            if isinstance(layer, DenseLayer):
                out.append(accumulator_bound(layer.weights, input_max=m))
            elif isinstance(layer, ConvLayer):
                out.append(conv_accumulator_bound(layer, input_max=m))
            else:
                out.append(0)
        return out


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything one run produced.

    Attributes
    ----------
    inputs : np.ndarray
        Encoded layer-0 input ``(T, batch, n_in)`` ``uint8``.
    spikes : tuple[np.ndarray, ...]
        Per layer, ``(T, batch, n_l)`` ``uint8`` spikes (pooled spikes for a pool layer),
        feature maps flattened channel-major.
    membranes : tuple[np.ndarray | None, ...] | None
        Per layer, ``(T, batch, n_l)`` ``int64`` membranes after reset, ``None`` for a pool layer
        (it has none); ``None`` as a whole if not recorded.
    counts : np.ndarray
        Output spike counts ``(batch, n_out)``.
    predictions : np.ndarray
        Predicted class per sample ``(batch,)``.
    """

    inputs: np.ndarray
    spikes: tuple[np.ndarray, ...]
    membranes: tuple[np.ndarray | None, ...] | None
    counts: np.ndarray
    predictions: np.ndarray


def predict(counts: np.ndarray, final_v: np.ndarray) -> np.ndarray:
    """Return the most-spiking neuron, ties to the larger final membrane, then lower index."""
    counts = np.asarray(counts, dtype=np.int64)
    v = np.asarray(final_v, dtype=np.int64)
    best = counts.max(axis=1, keepdims=True)
    v_masked = np.where(counts == best, v, np.iinfo(np.int64).min)
    return np.argmax(v_masked, axis=1)


def run_network(params: NetworkParams, images: np.ndarray, *, record_membranes: bool = True
                ) -> Trace:
    """Run the integer network on ``uint8`` images ``(batch, features)``.

    An image feeding a conv or pool layer is its ``(C, H, W)`` map flattened channel-major.

    Raises
    ------
    ValueError
        If the images do not have ``layers[0].n_in`` features (or see ``sim.encoders.encode``).
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != params.layers[0].n_in:
        raise ValueError(
            f"images must have shape (batch, {params.layers[0].n_in}), not {images.shape}"
        )
    x_all = encode(images, params.encoder, timesteps=params.timesteps)
    # Layer by layer over all timesteps (a layer's step t needs only the previous layer's step
    # t): one synaptic product per layer for all T * batch rows, then the neurons step by step.
    batch = images.shape[0]
    T = params.timesteps
    bounds = params.bounds()
    spikes: list[np.ndarray] = []
    membranes: list[np.ndarray | None] = []
    x = x_all
    for idx, layer in enumerate(params.layers):
        flat = x.reshape(T * batch, -1)
        if isinstance(layer, PoolLayer):
            x = or_pool(flat, layer).reshape(T, batch, -1)
            spikes.append(x)
            membranes.append(None)
            continue
        if isinstance(layer, ConvLayer):
            i = conv_synaptic_input(flat, layer, bound=bounds[idx])
        elif idx == 0:
            i = _first_dense_input(images, params, bound=bounds[0])
        else:
            i = exact_matmul(flat, layer.weights, bound=bounds[idx])
        last = idx == len(params.layers) - 1
        x, v, state = _run_neurons(i.reshape(T, batch, -1), layer.lif, record_membranes=(
            record_membranes or (last and params.rule is not OutputRule.MAX_COUNT)))
        spikes.append(x)
        membranes.append(v)
    counts = spikes[-1].sum(axis=0, dtype=np.int64)
    return Trace(
        inputs=x_all,
        spikes=tuple(spikes),
        membranes=tuple(membranes) if record_membranes else None,
        counts=counts,
        predictions=(predict(counts, state.v) if params.rule is OutputRule.MAX_COUNT
                     else decide(spikes[-1], v, rule=params.rule).classes),
    )


def _first_dense_input(images: np.ndarray, params: NetworkParams, *, bound: int) -> np.ndarray:
    """Return ``encode(images)[t] @ W.T`` of dense layer 0 for every ``t``, ``(T*batch, n_out)``.

    A pixel that is 0 in every image is 0 at every timestep in every encoding, so its column
    adds exact zeros: the product runs over the other columns only (``encode_columns``).
    """
    used = np.flatnonzero(np.any(images, axis=0))
    x = encode_columns(images, params.encoder, timesteps=params.timesteps, columns=used)
    w = np.asarray(params.layers[0].weights)[:, used]
    return exact_matmul(x.reshape(-1, len(used)), w, bound=bound)


def _run_neurons(i: np.ndarray, lif: LIFParams, *, record_membranes: bool
                 ) -> tuple[np.ndarray, np.ndarray | None, LIFState]:
    """Step a layer's neurons through the inputs ``i`` ``(T, batch, n)`` from ``v = 0``.

    Returns the ``uint8`` spikes ``(T, batch, n)``, the ``int64`` membranes after reset
    ``(T, batch, n)`` (``None`` unless recorded) and the final state.
    """
    T, batch, n = i.shape
    state = LIFState.zeros(batch=batch, n=n)
    out = np.zeros((T, batch, n), np.uint8)
    v_all = np.zeros((T, batch, n), np.int64) if record_membranes else None
    for t in range(T):
        s, state = lif_step(i[t], state, lif, t=t)
        out[t] = s
        if v_all is not None:
            v_all[t] = state.v
    return out, v_all, state
