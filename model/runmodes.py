"""The run modes every spiking network of ``model`` shares: encoding, float prediction and the
hardware-exact evaluation.

A network class provides ``encoder``, ``timesteps``, ``input_scale(index)``,
``simulate(inputs, quantized=...)`` (returning a :class:`FloatRun`) and ``integer_layers()``
(the folded ``sim.network`` layers); this mixin adds :meth:`SpikingRunModes.encode`,
:meth:`SpikingRunModes.predict` and :meth:`SpikingRunModes.evaluate_hardware`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikesmith.sim.encoders import encode
from spikesmith.sim.network import NetworkParams, Trace, predict, run_network

__all__ = ["FloatRun", "SpikingRunModes", "shared_config"]


@dataclass(frozen=True, eq=False)
class FloatRun:
    """Result of a float run.

    Attributes
    ----------
    counts : torch.Tensor
        Output spike counts ``(batch, n_out)`` (differentiable through the surrogates).
    membrane : torch.Tensor
        Final membrane of the output layer ``(batch, n_out)`` in float units.
    hidden_counts : tuple[torch.Tensor, ...]
        Spike counts ``(batch, n_l)`` of every LIF layer before the output layer.
    """

    counts: torch.Tensor
    membrane: torch.Tensor
    hidden_counts: tuple[torch.Tensor, ...]


def shared_config(net: object, neuron: object) -> dict[str, object]:
    """Return the JSON-able settings every network config holds: widths, timesteps, encoder,
    the neuron settings of ``neuron`` (every layer shares them) and ``init_gain``."""
    return {
        "weight_bits": net.weight_bits,
        "membrane_bits": net.membrane_bits,
        "timesteps": net.timesteps,
        "encoder": {"encoding": net.encoder.encoding.value, "seed": net.encoder.seed},
        "model": neuron.model.value,
        "leak_shift": neuron.leak_shift,
        "reset": neuron.reset.value,
        "learnable_threshold": neuron.learnable_threshold,
        "surrogate": neuron.surrogate.to_config(),
        "init_gain": net.init_gain,
    }


class SpikingRunModes:
    """Mixin of the encoding, float prediction and hardware-exact run of a spiking network."""

    def encode(self, images: np.ndarray) -> torch.Tensor:
        """Return the float layer-0 input ``(T, batch, features)`` for ``uint8`` images.

        ``sim.encoders.encode`` of the images times ``input_scale(0)``.
        """
        x = encode(np.asarray(images), self.encoder, timesteps=self.timesteps)
        return torch.from_numpy(x).to(torch.float32) * self.input_scale(0)

    @torch.no_grad()
    def predict(self, images: np.ndarray, *, quantized: bool = True, batch_size: int = 1000
                ) -> np.ndarray:
        """Return float-mode class predictions, ties broken as ``sim.network.predict`` does.

        ``quantized`` as in :meth:`simulate`.
        """
        was_training = self.training
        self.eval()
        out = []
        try:
            for lo in range(0, len(images), batch_size):
                run = self.simulate(self.encode(images[lo:lo + batch_size]),
                                    quantized=quantized)
                out.append(predict(run.counts.round().to(torch.int64).numpy(),
                                   _float_order_key(run.membrane)))
        finally:
            self.train(was_training)
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def evaluate_hardware(self, images: np.ndarray, *, record_membranes: bool = True) -> Trace:
        """Run the folded integer network on ``uint8`` images ``(batch, sizes[0])``.

        This is ``sim.network.run_network`` on the layers of :meth:`integer_layers` with this
        module's encoder and timesteps.

        Raises
        ------
        ValueError
            On images of the wrong shape or range, or see :meth:`integer_layers`.
        """
        params = NetworkParams(layers=self.integer_layers(), encoder=self.encoder,
                               timesteps=self.timesteps)
        return run_network(params, images, record_membranes=record_membranes)


def _float_order_key(v: torch.Tensor) -> np.ndarray:
    """Map float membranes ``(batch, n)`` to int64 keys of the same order, ties kept equal.

    The key of a neuron is how many neurons of its row have a strictly smaller membrane, so
    ``sim.network.predict`` applies its tie-break unchanged to float runs.
    """
    a = v.detach().to(torch.float64)
    return (a[:, :, None] > a[:, None, :]).sum(dim=2).numpy().astype(np.int64)
