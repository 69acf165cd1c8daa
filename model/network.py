"""A feed-forward spiking MLP: float BPTT training and a hardware-exact integer evaluation.

Two ways to run the same module:

* **Float** (:meth:`SpikingMLP.forward`, :meth:`SpikingMLP.simulate`): layer-0 input is the
  golden model's encoding (``sim.encoders.encode`` of the ``uint8`` images, times
  :meth:`SpikingMLP.input_scale`), fake-quantised weights, float neurons
  (:class:`~spikesmith.model.layers.LIFNeuron`), surrogate gradients, BPTT over ``T`` steps,
  vectorised over the batch. The output is the last layer's spike counts ``(batch, n_out)``.
* **Hardware-exact** (:meth:`SpikingMLP.evaluate_hardware`): integer weights and thresholds
  folded with ``sim.quant``, run by ``sim.network.run_network``: the same ``Trace`` as the
  golden model of the network the compiler folds from this module (the contract's folding
  equations), bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spikesmith.sim.encoders import DEFAULT_ENCODER, EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.limits import MEMBRANE_BITS, TIMESTEPS, WEIGHT_BITS
from spikesmith.sim.network import DenseLayer

from .layers import DEFAULT_SURROGATE, LIFNeuron, QuantDense
from .runmodes import FloatRun, SpikingRunModes, shared_config
from .surrogate import Surrogate

__all__ = ["FloatRun", "SpikingMLP"]

#: Modules the float and hardware-exact modes pass inputs through unchanged at inference.
_PASSTHROUGH = (nn.Dropout, nn.Identity)
#: Largest accepted ``init_gain``: far above any useful initial scale (1 is the default), and
#: small enough that ``init_gain * sqrt(3 / n_in)`` stays a finite float32.
MAX_INIT_GAIN = 100.0


def check_network_settings(*, weight_bits: int, membrane_bits: int, timesteps: int,
                           encoder: EncoderParams) -> None:
    """Raise ``ValueError`` / ``TypeError`` unless the settings every network shares are valid
    (``sim.limits`` ranges, an ``EncoderParams``)."""
    WEIGHT_BITS.check(weight_bits)
    MEMBRANE_BITS.check(membrane_bits)
    TIMESTEPS.check(timesteps)
    if not isinstance(encoder, EncoderParams):
        raise TypeError(f"encoder must be an EncoderParams, not {encoder!r}")


def _stepwise(neuron: LIFNeuron, i: torch.Tensor, *, lsb: torch.Tensor | None,
              membranes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``neuron.run(i, lsb=lsb)`` computed step by step, appending every timestep's
    membrane after reset to ``membranes`` (the same values as ``run``)."""
    v = i.new_zeros(i.shape[1:])
    spikes = []
    for t in range(i.shape[0]):
        s, v = neuron.step(i[t], v, lsb=lsb)
        spikes.append(s)
        membranes.append(v)
    return torch.stack(spikes), v


class SpikingMLP(SpikingRunModes, nn.Module):
    """Dense spiking network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Parameters
    ----------
    sizes : Sequence[int]
        Inputs, hidden layer widths and outputs; at least two positive integers.
    weight_bits : int
        Signed weight width for every layer, in ``sim.limits.WEIGHT_BITS``.
    membrane_bits : int
        Signed saturating membrane width, in ``sim.limits.MEMBRANE_BITS``.
    timesteps : int
        Simulation length ``T``, in ``sim.limits.TIMESTEPS``.
    encoder : EncoderParams
        Layer-0 encoding, shared with the golden model.
    model, leak_shift, reset :
        Neuron dynamics of every layer (see ``sim.lif``).
    threshold : float
        Initial float threshold of every layer.
    learnable_threshold : bool
        Learn one threshold per layer.
    surrogate : Surrogate
        Spike function of every layer.
    init_gain : float
        Initial weight scale in ``(0, MAX_INIT_GAIN]`` (see
        :class:`~spikesmith.model.layers.QuantDense`).
    dropout : float
        Probability of an ``nn.Dropout`` after every hidden neuron layer (training only;
        0 inserts none).

    Attributes
    ----------
    layers : nn.ModuleList
        ``[QuantDense, LIFNeuron, QuantDense, LIFNeuron, ...]``; ``nn.Dropout`` and
        ``nn.Identity`` may be inserted by the user (identity at inference).

    Raises
    ------
    TypeError, ValueError
        On bad sizes, weight bits, membrane bits, timesteps, encoder or neuron parameters.
    """

    def __init__(self, sizes: Sequence[int], *, weight_bits: int = 8, membrane_bits: int = 16,
                 timesteps: int = 8, encoder: EncoderParams = DEFAULT_ENCODER,
                 model: NeuronModel = NeuronModel.LIF, leak_shift: int = 4,
                 reset: ResetMode = ResetMode.SUBTRACT, threshold: float = 1.0,
                 learnable_threshold: bool = False, surrogate: Surrogate = DEFAULT_SURROGATE,
                 init_gain: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__()
        if (isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence)
                or len(sizes) < 2
                or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes)):
            raise ValueError(
                f"sizes must be a sequence of at least two positive integers, not {sizes!r}"
            )
        check_network_settings(weight_bits=weight_bits, membrane_bits=membrane_bits,
                               timesteps=timesteps, encoder=encoder)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not (
            0.0 <= dropout < 1.0
        ):
            raise ValueError(f"dropout must be a probability in [0, 1), not {dropout!r}")
        if isinstance(init_gain, bool) or not isinstance(init_gain, int | float) or not (
            0.0 < init_gain <= MAX_INIT_GAIN
        ):
            raise ValueError(f"init_gain must be a number in (0, {MAX_INIT_GAIN}], "
                             f"not {init_gain!r}")
        self.sizes = tuple(sizes)
        self.dropout = float(dropout)
        self.weight_bits = weight_bits
        self.membrane_bits = membrane_bits
        self.timesteps = timesteps
        self.encoder = encoder
        self.init_gain = float(init_gain)
        modules: list[nn.Module] = []
        n_layers = len(self.sizes) - 1
        for index, (n_in, n_out) in enumerate(zip(self.sizes, self.sizes[1:], strict=False)):
            modules.append(QuantDense(n_in, n_out, weight_bits=weight_bits, init_gain=init_gain))
            modules.append(LIFNeuron(threshold=threshold, learnable_threshold=learnable_threshold,
                                     model=model, leak_shift=leak_shift, reset=reset,
                                     surrogate=surrogate))
            if dropout and index < n_layers - 1:
                modules.append(nn.Dropout(dropout))
        self.layers = nn.ModuleList(modules)

    # -- structure ----------------------------------------------------------------------------

    def input_scale(self, layer_index: int) -> float:
        """Return the float value of one input unit of dense layer ``layer_index``.

        1.0 for spike inputs; ``1/255`` for dense layer 0 under ``DIRECT`` encoding (its
        float input is ``pixel / 255``). Index 0 is the first dense layer, which is also
        ``layers[0]``.
        """
        if layer_index == 0 and self.encoder.encoding is Encoding.DIRECT:
            return 1.0 / 255.0
        return 1.0

    def synapse_neuron_pairs(self) -> list[tuple[QuantDense, LIFNeuron]]:
        """Return the ``(QuantDense, LIFNeuron)`` pairs of :attr:`layers`, in order.

        Raises
        ------
        ValueError
            If :attr:`layers` holds a module other than ``QuantDense``, ``LIFNeuron``,
            ``nn.Dropout``, ``nn.Identity``, or they do not alternate dense then neuron, or the
            sizes do not chain from ``sizes[0]``.
        """
        pairs: list[tuple[QuantDense, LIFNeuron]] = []
        pending: QuantDense | None = None
        n_prev = self.sizes[0]
        for idx, m in enumerate(self.layers):
            if isinstance(m, _PASSTHROUGH):
                continue
            if isinstance(m, QuantDense) and pending is None:
                if m.in_features != n_prev:
                    raise ValueError(f"layers[{idx}] takes {m.in_features} inputs, but "
                                     f"{n_prev} arrive")
                pending = m
            elif isinstance(m, LIFNeuron) and pending is not None:
                pairs.append((pending, m))
                n_prev = pending.out_features
                pending = None
            else:
                raise ValueError(
                    f"layers[{idx}] is a {type(m).__name__}; a SpikingMLP's layers must be "
                    "QuantDense, LIFNeuron, QuantDense, LIFNeuron, ... (Dropout and Identity "
                    "allowed anywhere)"
                )
        if pending is not None or not pairs:
            raise ValueError("a SpikingMLP's layers must end with a LIFNeuron after a QuantDense")
        return pairs

    # -- float mode ---------------------------------------------------------------------------

    def simulate(self, inputs: torch.Tensor, *, quantized: bool = True,
                 output_spikes: list[torch.Tensor] | None = None,
                 output_membranes: list[torch.Tensor] | None = None) -> FloatRun:
        """Run the float network on encoded inputs ``(T, batch, sizes[0])`` (from :meth:`encode`).

        With ``quantized=False`` the raw float weights and thresholds are used (no fake
        quantisation), to measure what quantisation costs. Lists passed as ``output_spikes`` and
        ``output_membranes`` receive the output layer's spikes and membranes after reset
        ``(batch, n_out)`` of every timestep, in order (for losses on spike times,
        ``model.losses``, and the first-spike decision).

        Raises
        ------
        ValueError
            If ``inputs`` does not have shape ``(T, batch, sizes[0])`` with ``T == timesteps``.
        """
        if inputs.ndim != 3 or inputs.shape[0] != self.timesteps or (
            inputs.shape[2] != self.sizes[0]
        ):
            raise ValueError(
                f"inputs must have shape ({self.timesteps}, batch, {self.sizes[0]}), "
                f"not {tuple(inputs.shape)}"
            )
        self.synapse_neuron_pairs()  # validates the structure
        # Layer by layer over all timesteps (a layer's step t needs only the previous layer's
        # step t): one matrix product per layer and one autograd node per neuron layer.
        x = inputs
        # Direct current is the same at every timestep: layer 0 then multiplies one copy.
        once = self.encoder.encoding is Encoding.DIRECT and isinstance(self.layers[0], QuantDense)
        counts: list[torch.Tensor] = []
        v = lsb = None
        dense_index = 0
        for m in self.layers:
            if isinstance(m, QuantDense):
                w_q, scale = m.quantized() if quantized else (m.weight, None)
                lsb = scale * self.input_scale(dense_index) if quantized else None
                x = inputs[0] @ w_q.T if once and dense_index == 0 else x @ w_q.T
                x = x.expand(self.timesteps, *x.shape) if x.ndim == 2 else x
                dense_index += 1
            elif isinstance(m, LIFNeuron):
                if m is self.layers[-1] and output_membranes is not None:
                    x, v = _stepwise(m, x, lsb=lsb, membranes=output_membranes)
                else:
                    x, v = m.run(x, lsb=lsb)
                if m is self.layers[-1] and output_spikes is not None:
                    output_spikes.extend(x.unbind(0))
                counts.append(x.sum(dim=0))
            elif m.training:
                # One call per timestep: the random masks of a per-step dropout.
                x = torch.stack([m(x[t]) for t in range(self.timesteps)])
            else:
                x = m(x)
        return FloatRun(counts=counts[-1], membrane=v, hidden_counts=tuple(counts[:-1]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Return the output spike counts ``(batch, n_out)`` of :meth:`simulate`."""
        return self.simulate(inputs).counts

    # -- hardware-exact mode ------------------------------------------------------------------

    def integer_layers(self) -> tuple[DenseLayer, ...]:
        """Return the integer layers folded with the contract's equations (``sim.quant``).

        Raises
        ------
        ValueError
            If a threshold does not fit the membrane, or the layer structure is unsupported.
        """
        out = []
        for idx, (dense, neuron) in enumerate(self.synapse_neuron_pairs()):
            w, scale = dense.integer_weights()
            lif = neuron.integer_params(scale=scale, input_scale=self.input_scale(idx),
                                        membrane_bits=self.membrane_bits)
            out.append(DenseLayer(weights=w, weight_bits=dense.weight_bits, lif=lif))
        return tuple(out)

    # -- configuration ------------------------------------------------------------------------

    def config(self) -> dict[str, object]:
        """Return the JSON-able constructor arguments (thresholds are their initial values).

        The neuron settings are read from the first ``LIFNeuron``; every layer shares them.
        """
        neuron = self.synapse_neuron_pairs()[0][1]
        return {"sizes": list(self.sizes), **shared_config(self, neuron),
                "dropout": self.dropout}
