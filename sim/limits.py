"""The accepted range of every user-facing integer parameter, defined once.

The CLI, the training layer, the compiler and the cores all validate against these records,
so a value accepted at one layer is accepted at every other, and every rejection reads the
same.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACC_BITS",
    "INPUT_FILE_BYTES",
    "LANES",
    "LAYER_WEIGHTS",
    "LAYER_WIDTH",
    "MEMBRANE_BITS",
    "NEURONS_PER_CLASS",
    "POPULATION",
    "PROCESSES",
    "TIMESTEPS",
    "WEIGHT_BITS",
    "IntRange",
]


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range, optionally restricted to powers of two.

    Parameters
    ----------
    name : str
        What the value is, as error messages name it (``"weight bits"``).
    lo, hi : int
        Smallest and largest accepted value.
    power_of_two : bool
        Accept only powers of two.
    """

    name: str
    lo: int
    hi: int
    power_of_two: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        if self.power_of_two and value & (value - 1):
            return False
        return self.lo <= value <= self.hi

    def describe(self) -> str:
        """Return what is accepted, e.g. ``"a power of two in 1..64"``."""
        kind = "a power of two" if self.power_of_two else "an integer"
        return f"{kind} in {self.lo}..{self.hi}"

    def check(self, value: object) -> int:
        """Return ``value`` if it is in range.

        Raises
        ------
        ValueError
            Naming the parameter, the accepted range and the value given.
        """
        if value not in self:
            raise ValueError(f"{self.name} must be {self.describe()}, not {value!r}")
        return value  # type: ignore[return-value]


#: Signed width of a stored synaptic weight.
WEIGHT_BITS = IntRange("weight bits", 2, 16)
#: Signed width of a membrane potential.
MEMBRANE_BITS = IntRange("membrane bits", 2, 32)
#: Signed width of a synaptic-input accumulator (layer cores).
ACC_BITS = IntRange("accumulator bits", 2, 48)
#: Synapse lanes of a layer core (weights read and accumulated per cycle).
LANES = IntRange("lanes", 1, 64, power_of_two=True)
#: Timesteps per sample.
TIMESTEPS = IntRange("timesteps", 1, 256)

# --- sizes read from files and options: bounded before anything is allocated ---------------

#: Neurons of one layer, features of an input, rows or columns of a weight matrix.
LAYER_WIDTH = IntRange("layer width", 1, 65536)
#: Weights of one layer (rows x columns); 2^24 int64 weights are 128 MiB.
LAYER_WEIGHTS = IntRange("weights per layer", 1, 1 << 24)
#: Size in bytes of an input file the flow reads (IR text, JSON records); checked with
#: ``stat`` and read with at most ``hi + 1`` bytes, so a device or a huge file is refused.
INPUT_FILE_BYTES = IntRange("file size in bytes", 0, 64 << 20)
#: Worker processes of a parallel study.
PROCESSES = IntRange("processes", 1, 256)
#: Neurons per class of a learning (NCG) readout: 10 classes of 256 are 2560 neurons.
NEURONS_PER_CLASS = IntRange("neurons per class", 1, 256)
#: Neurons of one population of the recurrent (sleep-study) network; its recurrent weights
#: grow with the square, 4096^2 = 2^24 as ``LAYER_WEIGHTS``.
POPULATION = IntRange("population size", 1, 4096)
