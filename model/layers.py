"""Trainable layers: a fake-quantised dense synapse matrix and a float LIF neuron layer.

Both are thin ``nn.Module`` wrappers; the integer semantics they approximate in training and
reproduce exactly in the hardware-exact mode are defined once in ``sim.quant`` (folding) and
``sim.lif`` (the neuron equations). The modules hold parameters only, never state: the
membrane is passed in and returned by :meth:`LIFNeuron.step`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.quant import check_weight_bits, quantize_threshold, quantize_weights

from .lif_sequence import lif_sequence
from .quant import fake_quantize_threshold, fake_quantize_weights
from .surrogate import Surrogate, fast_sigmoid

__all__ = ["DEFAULT_SURROGATE", "MIN_THRESHOLD", "LIFNeuron", "QuantDense"]

#: Surrogate used when none is given: fast sigmoid with slope 5 per threshold unit.
DEFAULT_SURROGATE = fast_sigmoid(slope=5.0)

#: Floor of a learnable threshold in float units (keeps ``threshold_value() > 0``).
MIN_THRESHOLD = 1e-2


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


class QuantDense(nn.Module):
    """Dense synapses without bias, with fake-quantised weights in training.

    Parameters
    ----------
    in_features, out_features : int
        Matrix shape ``(out_features, in_features)``.
    weight_bits : int
        Signed width of the integer weights (``sim.quant.check_weight_bits``).
    init_gain : float
        Weights start uniform in ``±init_gain * sqrt(3 / in_features)`` (variance
        ``init_gain**2 / in_features``).

    Raises
    ------
    ValueError
        On non-positive sizes or bad weight bits.
    """

    def __init__(self, in_features: int, out_features: int, *, weight_bits: int,
                 init_gain: float = 1.0) -> None:
        super().__init__()
        self.in_features = _check_positive_int("in_features", in_features)
        self.out_features = _check_positive_int("out_features", out_features)
        self.weight_bits = check_weight_bits(weight_bits)
        bound = init_gain * math.sqrt(3.0 / in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(w_q, scale)``: fake-quantised weights (STE) and the 0-d ``float64`` scale."""
        return fake_quantize_weights(self.weight, bits=self.weight_bits)

    def integer_weights(self) -> tuple[np.ndarray, float]:
        """Return ``sim.quant.quantize_weights(weight, bits=weight_bits)``: int64 codes, scale."""
        return quantize_weights(self.weight.detach().cpu().numpy(), bits=self.weight_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x @ w_q.T`` for inputs ``(..., in_features)``."""
        w_q, _ = self.quantized()
        return x @ w_q.T

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, weight_bits={self.weight_bits}"


class LIFNeuron(nn.Module):
    """A layer of IF/LIF neurons in float, trained through a surrogate spike function.

    One float timestep mirrors ``sim.lif`` (charge, fire, reset), with ``v`` in float units::

        u = v - v * 2**-k + I      (LIF)     or     u = v + I      (IF)
        s = surrogate(u - theta_q)
        v = u - s * theta_q        (SUBTRACT, s detached)   or   v = u * (1 - s)   (ZERO)

    ``theta_q`` is the threshold fake-quantised to the membrane LSB of the preceding layer
    (``sim.quant.quantize_threshold`` semantics, straight-through gradient). The float leak
    has no floor and the membrane no saturation; the hardware-exact mode has both.

    Parameters
    ----------
    threshold : float
        Initial firing threshold ``theta`` in float units (> 0).
    learnable_threshold : bool
        Learn ``theta`` by backprop (one scalar per layer, LTMD-style, kept
        ``>= MIN_THRESHOLD``); otherwise it is a fixed buffer.
    model : NeuronModel
        ``IF`` or ``LIF``.
    leak_shift : int
        ``k`` of the shift leak, ``1..31``.
    reset : ResetMode
        ``ZERO`` or ``SUBTRACT``.
    surrogate : Surrogate
        Spike function (see ``model.surrogate``).

    Raises
    ------
    TypeError, ValueError
        On a bad enum, a non-positive threshold or a leak shift outside ``1..31``.
    """

    def __init__(self, *, threshold: float = 1.0, learnable_threshold: bool = False,
                 model: NeuronModel = NeuronModel.LIF, leak_shift: int = 4,
                 reset: ResetMode = ResetMode.SUBTRACT,
                 surrogate: Surrogate = DEFAULT_SURROGATE) -> None:
        super().__init__()
        if not isinstance(model, NeuronModel):
            raise TypeError(f"model must be a NeuronModel, not {model!r}")
        if not isinstance(reset, ResetMode):
            raise TypeError(f"reset must be a ResetMode, not {reset!r}")
        if not isinstance(surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate, not {surrogate!r}")
        if isinstance(leak_shift, bool) or not isinstance(leak_shift, int) or not (
            1 <= leak_shift <= 31
        ):
            raise ValueError(f"leak_shift must be an integer in 1..31, not {leak_shift!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
            math.isfinite(threshold) and threshold >= MIN_THRESHOLD
        ):
            raise ValueError(
                f"threshold must be a finite number >= {MIN_THRESHOLD}, not {threshold!r}"
            )
        self.model = model
        self.leak_shift = leak_shift
        self.reset = reset
        self.surrogate = surrogate
        self.learnable_threshold = bool(learnable_threshold)
        t = torch.tensor(float(threshold), dtype=torch.float32)
        if self.learnable_threshold:
            self.threshold = nn.Parameter(t)
        else:
            self.register_buffer("threshold", t)

    def theta(self) -> torch.Tensor:
        """Return the float threshold as a 0-d tensor (``>= MIN_THRESHOLD``, differentiable)."""
        return torch.clamp_min(self.threshold, MIN_THRESHOLD)

    def threshold_value(self) -> float:
        """Return the current float threshold (> 0), the ``theta`` the folding uses."""
        return float(self.theta().detach())

    def integer_params(self, *, scale: float, input_scale: float, membrane_bits: int
                       ) -> LIFParams:
        """Return the folded ``sim.lif.LIFParams`` for a membrane LSB of ``scale*input_scale``.

        Raises
        ------
        ValueError
            If the threshold does not fit the membrane (``sim.quant.quantize_threshold``).
        """
        theta = quantize_threshold(self.threshold_value(), scale=scale, input_scale=input_scale,
                                   membrane_bits=membrane_bits)
        return LIFParams(threshold=theta, model=self.model, leak_shift=self.leak_shift,
                         reset=self.reset, membrane=FixedFormat(membrane_bits))

    def step(self, i: torch.Tensor, v: torch.Tensor, *, lsb: torch.Tensor | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance one float timestep; return ``(spikes, v)``.

        Parameters
        ----------
        i : torch.Tensor
            Synaptic input ``(batch, n)`` in float units.
        v : torch.Tensor
            Membrane after the previous step, same shape.
        lsb : torch.Tensor or None
            Membrane LSB in float units (``scale * input_scale``), 0-d, for the threshold;
            ``None`` uses the float threshold unquantised.
        """
        u = v - v * 2.0 ** -self.leak_shift + i if self.model is NeuronModel.LIF else v + i
        theta = self.theta() if lsb is None else fake_quantize_threshold(self.theta(), lsb=lsb)
        s = self.surrogate(u - theta)
        sd = s.detach()
        v = u - sd * theta if self.reset is ResetMode.SUBTRACT else u * (1.0 - sd)
        return s, v

    def run(self, i: torch.Tensor, *, lsb: torch.Tensor | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``T`` timesteps from ``v = 0``; return ``(spikes, v)``, equal to :meth:`step`.

        ``i`` is the synaptic input ``(T, ...)`` of every timestep; ``spikes`` has its shape
        and ``v`` is the membrane after the last step. One autograd node
        (``model.lif_sequence``) instead of ``T`` steps of graph; same values and gradients.
        """
        theta = self.theta() if lsb is None else fake_quantize_threshold(self.theta(), lsb=lsb)
        return lif_sequence(i, theta, model=self.model, leak_shift=self.leak_shift,
                            reset=self.reset, surrogate=self.surrogate)

    def extra_repr(self) -> str:
        return (f"threshold={self.threshold_value():.4g}, learnable={self.learnable_threshold},"
                f" model={self.model.name}, leak_shift={self.leak_shift}, "
                f"reset={self.reset.name}")
