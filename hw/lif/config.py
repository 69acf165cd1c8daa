"""Configuration of the LIF layer core and of a chain of them: what ``hw.lif`` elaborates.

The compiler's lowering (``compiler.lowering.to_network_config``) emits these records; the
core (:mod:`.lif_core`), the network top (:mod:`.network`), the generator (:mod:`.generate`)
and the analytic model (:mod:`.estimate`) read them. A core is the ``sim`` record of its layer
(:class:`~spikesmith.sim.network.DenseLayer`: weights, weight width, neuron parameters) plus
what only the hardware needs (accumulator and input widths, synapse lanes). A configuration
carries only integers and enums (never a float), so the gateware is a pure function of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesmith.sim.encoders import DEFAULT_ENCODER, EncoderParams
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.limits import ACC_BITS, LANES, TIMESTEPS
from spikesmith.sim.network import DenseLayer

__all__ = ["WEIGHT_ROM_BLOCK_DEPTH", "LIFCoreConfig", "NetworkConfig"]

#: Weight ROMs of at least this many words are placed in block RAM (a ``rom_style`` attribute
#: for synthesis): in soft logic each output bit of a ROM ``2**k`` words deep is a ``k``-input
#: function, several LUT4 per bit from 32 words on (Yosys 0.70 kept a 64-word, 64-bit ROM in
#: 264 ECP5 LUT4 and 64 flip-flops, which two DP16KD hold).
WEIGHT_ROM_BLOCK_DEPTH = 32


@dataclass(frozen=True, eq=False, kw_only=True)
class LIFCoreConfig:
    """One time-multiplexed LIF layer core.

    Parameters
    ----------
    name : str
        Layer name from the source model (used for instance and file names).
    layer : DenseLayer
        The layer the core runs: integer weights ``(n_out, n_in)`` (initial contents of the
        weight memory), their signed width and the neuron parameters (threshold, leak, reset,
        membrane format).
    acc_bits : int
        Signed width of the synaptic-input accumulator; the compiler proves
        ``|I| <= 2**(acc_bits-1) - 1`` for every input (``sim.ops.accumulator_bound``).
    input_bits : int
        Width of one input event's value: 1 for spike events (no multiplier), 8 for direct
        current (a multiplier per lane).
    lanes : int
        Synapse lanes ``P``: weights read and accumulated per cycle for one input event
        (``sim.limits.LANES``).

    Raises
    ------
    TypeError
        If ``layer`` is not a ``DenseLayer``.
    ValueError
        If ``name`` is not an identifier, ``lanes`` is out of ``sim.limits.LANES`` or
        ``input_bits`` is neither 1 nor 8.
    """

    name: str
    layer: DenseLayer
    acc_bits: int
    input_bits: int
    lanes: int

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"core name must be an identifier, not {self.name!r}")
        if not isinstance(self.layer, DenseLayer):
            raise TypeError(f"layer must be a DenseLayer, not {self.layer!r}")
        LANES.check(self.lanes)
        ACC_BITS.check(self.acc_bits)
        if self.input_bits not in (1, 8):
            raise ValueError(f"input_bits must be 1 (spikes) or 8 (direct), not {self.input_bits}")

    @property
    def weights(self) -> np.ndarray:
        """Integer weights ``(n_out, n_in)`` of the layer."""
        return self.layer.weights

    @property
    def weight_bits(self) -> int:
        """Signed width of a stored weight."""
        return self.layer.weight_bits

    @property
    def lif(self) -> LIFParams:
        """Neuron parameters of the layer."""
        return self.layer.lif

    @property
    def n_in(self) -> int:
        """Inputs (pre-synaptic neurons or pixels)."""
        return self.layer.n_in

    @property
    def n_out(self) -> int:
        """Neurons of the layer."""
        return self.layer.n_out

    @property
    def groups(self) -> int:
        """Neuron groups ``G = ceil(n_out / lanes)``: the cycles the core spends per input event
        (each group of ``lanes`` neurons shares one weight word and one state word)."""
        return -(-self.n_out // self.lanes)

    @property
    def weight_words(self) -> int:
        """Words of the weight ROM: ``n_in * G`` (at least 2)."""
        return max(2, self.n_in * self.groups)

    @property
    def weights_in_block(self) -> bool:
        """Whether the weight ROM is placed in block RAM (``WEIGHT_ROM_BLOCK_DEPTH``)."""
        return self.weight_words >= WEIGHT_ROM_BLOCK_DEPTH

    @property
    def state_bits(self) -> int:
        """Bits of one lane of the core's state memory: ``max(membrane_bits, acc_bits) + 1``.

        Enough for ``leak(v[t-1]) + I[t]`` exactly: ``|I[t]| < 2**(acc_bits-1)`` is proven by
        the compiler, and partial sums may wrap (two's complement) without changing the end
        result.
        """
        return max(self.lif.membrane.width, self.acc_bits) + 1


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
        If there are no cores, their sizes do not chain or ``timesteps`` is outside
        ``sim.limits.TIMESTEPS``.
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
        TIMESTEPS.check(self.timesteps)
