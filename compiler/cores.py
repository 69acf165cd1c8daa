"""Core configurations: what the compiler's partitioning emits and ``hw/`` elaborates.

A configuration carries only integers and enums (never a float), so the gateware is a pure
function of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesmith.sim.encoders import EncoderParams
from spikesmith.sim.lif import LIFParams

#: Encoder of a NetworkConfig built without one (rate coding, default seed).
DEFAULT_ENCODER = EncoderParams()

__all__ = ["DEFAULT_ENCODER", "LIFCoreConfig", "NetworkConfig"]


@dataclass(frozen=True, eq=False)
class LIFCoreConfig:
    """One time-multiplexed LIF layer core.

    Parameters
    ----------
    name : str
        Layer name from the source model (used for instance and file names).
    weights : np.ndarray
        Integer weights ``(n_out, n_in)``, initial contents of the weight memory.
    weight_bits : int
        Signed width of a stored weight.
    acc_bits : int
        Signed width of the synaptic-input accumulator; the compiler proves
        ``|I| <= 2**(acc_bits-1) - 1`` for every input (``sim.ops.accumulator_bound``).
    input_bits : int
        Width of one input event's value: 1 for spike events (no multiplier), 8 for direct
        current (a multiplier per lane).
    lif : LIFParams
        Neuron parameters (threshold, leak, reset, membrane format).
    lanes : int
        Synapse lanes ``P``: weights read and accumulated per cycle for one input event.
    """

    name: str
    weights: np.ndarray
    weight_bits: int
    acc_bits: int
    input_bits: int
    lif: LIFParams
    lanes: int

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"core name must be an identifier, not {self.name!r}")
        if self.lanes < 1 or self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes must be a power of two >= 1, not {self.lanes!r}")
        if self.input_bits not in (1, 8):
            raise ValueError(f"input_bits must be 1 (spikes) or 8 (direct), not {self.input_bits}")

    @property
    def n_in(self) -> int:
        """Inputs (pre-synaptic neurons or pixels)."""
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        """Neurons of the layer."""
        return int(self.weights.shape[0])


@dataclass(frozen=True, eq=False)
class NetworkConfig:
    """A chain of layer cores plus what the host needs to drive them.

    Parameters
    ----------
    cores : tuple[LIFCoreConfig, ...]
        Layer cores in order; core ``k``'s outputs feed core ``k + 1``.
    timesteps : int
        Timesteps ``T`` per sample.
    encoder : EncoderParams
        How pixels become the first core's input (``sim.encoders``).

    Raises
    ------
    ValueError
        If there are no cores, their sizes do not chain or ``timesteps < 1``.
    """

    cores: tuple[LIFCoreConfig, ...]
    timesteps: int
    encoder: EncoderParams = DEFAULT_ENCODER

    def __post_init__(self) -> None:
        if not self.cores:
            raise ValueError("a network needs at least one core")
        for a, b in zip(self.cores, self.cores[1:], strict=False):
            if a.n_out != b.n_in:
                raise ValueError(f"core sizes do not chain: {a.name} has {a.n_out} outputs, "
                                 f"{b.name} takes {b.n_in} inputs")
        if isinstance(self.timesteps, bool) or not isinstance(self.timesteps, int) or (
            self.timesteps < 1
        ):
            raise ValueError(f"timesteps must be a positive integer, not {self.timesteps!r}")
