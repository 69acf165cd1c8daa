"""The accepted range of every user-facing integer parameter, defined once.

The CLI, the training layer, the compiler and the cores all validate against these records,
so a value accepted at one layer is accepted at every other, and every rejection reads the
same.

Two kinds of record:

- *Contract limits* (bit widths, lanes, timesteps, time bins, option ranges) are part of the
  numeric and IR contracts (DESIGN.md §3, §4) and fixed.
- *Size limits* bound what is read from files before anything is allocated (file sizes, layer
  widths, weights per layer). A user can raise (or lower) them explicitly with the environment
  variable :data:`LIMITS_ENV`, e.g. ``SPIKESMITH_LIMITS="file_bytes=200000000,layer_width=131072"``;
  it is parsed once, when this module is first imported, so every layer sees the same values.
  A malformed setting never fails the import: the defaults stay in force and the problem is
  kept in :data:`LIMITS_PROBLEM` (the CLI reports it as a usage error, exit status 2;
  :func:`check_limit_settings` raises it for library users).
"""

from __future__ import annotations

import os
import re
import reprlib
from dataclasses import dataclass

__all__ = [
    "ACC_BITS",
    "CHECKPOINT_BYTES",
    "CHECK_EVERY",
    "EPOCHS",
    "HIDDEN",
    "INPUT_FILE_BYTES",
    "LANES",
    "LAYER_WEIGHTS",
    "LAYER_WIDTH",
    "LIMITS_ENV",
    "LIMITS_PROBLEM",
    "MEMBRANE_BITS",
    "NEURONS_PER_CLASS",
    "PNR_SEEDS",
    "POPULATION",
    "PROCESSES",
    "RATIOS",
    "SEED",
    "SEEDS",
    "SIZE_DEFAULTS",
    "TIMESTEPS",
    "TIME_BINS",
    "WEIGHT_BITS",
    "IntRange",
    "check_limit_settings",
    "parse_limit_settings",
    "show_value",
]

#: Environment variable that raises or lowers the size limits: ``name=integer`` pairs
#: separated by commas (names: :data:`SIZE_DEFAULTS`).
LIMITS_ENV = "SPIKESMITH_LIMITS"

_SHOW = reprlib.Repr()
_SHOW.maxstring = 40
_SHOW.maxother = 40


def show_value(value: object) -> str:
    """Return a short ``repr`` of a user's value for an error message (at most ~45 characters,
    never the whole of a huge string or integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    return _SHOW.repr(value)


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
    setting : str
        For a size limit, its name in :data:`LIMITS_ENV` (``"layer_width"``), which every
        rejection mentions; ``""`` for a contract limit, which cannot be changed.
    """

    name: str
    lo: int
    hi: int
    power_of_two: bool = False
    setting: str = ""

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

    @property
    def hint(self) -> str:
        """``"; raise it with SPIKESMITH_LIMITS=<setting>=N"`` for a size limit, else ``""``:
        the end of every message that rejects a value of this record."""
        return f"; raise it with {LIMITS_ENV}={self.setting}=N" if self.setting else ""

    def hint_for(self, value: object) -> str:
        """:attr:`hint` if ``value`` is an integer above the range (raising the limit would
        accept it), else ``""``."""
        above = isinstance(value, int) and not isinstance(value, bool) and value > self.hi
        return self.hint if above else ""

    def check(self, value: object) -> int:
        """Return ``value`` if it is in range.

        Raises
        ------
        ValueError
            Naming the parameter, the accepted range and the value given (shortened, see
            :func:`show_value`) and, for a size limit exceeded, how to raise it.
        """
        if value not in self:
            raise ValueError(f"{self.name} must be {self.describe()}, not "
                             f"{show_value(value)}{self.hint_for(value)}")
        return value  # type: ignore[return-value]


#: The size limits a user may change with :data:`LIMITS_ENV`: setting name -> (what it is,
#: smallest accepted value, default largest value).
SIZE_DEFAULTS: dict[str, tuple[str, int, int]] = {
    "file_bytes": ("file size in bytes", 0, 64 << 20),
    "checkpoint_bytes": ("checkpoint size in bytes", 0, 1 << 30),
    "layer_width": ("layer width", 1, 65536),
    "layer_weights": ("weights per layer", 1, 1 << 24),
}
#: Largest value a size limit may be set to (a sanity bound on the setting itself).
_SETTING_MAX = 1 << 48
_PAIR = re.compile(r"\s*([a-z_]+)\s*=\s*([0-9]{1,15})\s*")


def parse_limit_settings(text: str) -> dict[str, int]:
    """Return the size limits set by ``text`` (the value of :data:`LIMITS_ENV`) by name.

    ``text`` is empty or comma-separated ``name=integer`` pairs; every name is a key of
    :data:`SIZE_DEFAULTS` given at most once, every value a decimal integer from the limit's
    smallest accepted value to 2**48 (below the default lowers the limit).

    Raises
    ------
    ValueError
        A paragraph naming the variable, what is wrong and what is accepted (the names and
        their defaults).
    """
    settings: dict[str, int] = {}
    for part in text.split(",") if text.strip() else ():
        m = _PAIR.fullmatch(part)
        problem = None
        if m is None:
            problem = f"{show_value(part)} is not name=integer"
        elif m.group(1) not in SIZE_DEFAULTS:
            problem = f"unknown name {show_value(m.group(1))}"
        elif m.group(1) in settings:
            problem = f"{m.group(1)} is given twice"
        elif not SIZE_DEFAULTS[m.group(1)][1] <= int(m.group(2)) <= _SETTING_MAX:
            problem = f"{m.group(1)} must be in {SIZE_DEFAULTS[m.group(1)][1]}..2**48"
        if problem is not None:
            names = ", ".join(f"{k} ({v[2]})" for k, v in SIZE_DEFAULTS.items())
            raise ValueError(f"{LIMITS_ENV}={show_value(text)}: {problem}. Accepted: "
                             f"comma-separated name=integer pairs; names (defaults): {names}. "
                             "Bit widths, lanes and timesteps are fixed.")
        settings[m.group(1)] = int(m.group(2))
    return settings


def _read_settings() -> tuple[dict[str, int], str | None]:
    try:
        return parse_limit_settings(os.environ.get(LIMITS_ENV, "")), None
    except ValueError as exc:
        return {}, str(exc)


#: ``LIMITS_PROBLEM``: the paragraph describing a malformed :data:`LIMITS_ENV`, or None; with
#: a malformed setting every size limit keeps its default.
_SETTINGS, LIMITS_PROBLEM = _read_settings()


def check_limit_settings() -> None:
    """Raise ``ValueError`` (:data:`LIMITS_PROBLEM`) if :data:`LIMITS_ENV` was malformed."""
    if LIMITS_PROBLEM is not None:
        raise ValueError(LIMITS_PROBLEM)


def _size(setting: str) -> IntRange:
    name, lo, hi = SIZE_DEFAULTS[setting]
    return IntRange(name, lo, _SETTINGS.get(setting, hi), setting=setting)


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

#: Time bins ``K`` of the learning (NCG) core: a power of two with ``log2 K`` at most the
#: core's 12 fractional time bits (``sim.ncg.NCGParams.time_frac``, as ``learn`` builds it).
TIME_BINS = IntRange("time bins", 2, 4096, power_of_two=True)

# --- options of the commands: bounded while the command line is parsed ---------------------

#: Training epochs (``train``, ``demo``, ``learn``).
EPOCHS = IntRange("epochs", 1, 1000)
#: Hidden layer width of ``train`` and ``demo`` (and of a ``learn`` front end).
HIDDEN = IntRange("hidden width", 1, 4096)
#: A seed: non-negative and at most 2**31 - 1, so every consumer (torch, NumPy, scikit-learn's
#: 32-bit ``random_state``, the derived ``seed + 10_000`` of the sleep study) accepts it.
SEED = IntRange("seed", 0, (1 << 31) - 1)
#: Number of seeds of one study.
SEEDS = IntRange("number of seeds", 1, 64)
#: Number of nextpnr placer seeds of one estimate (seeds 1..n; Fmax min / median over them).
PNR_SEEDS = IntRange("number of placer seeds", 1, 16)
#: Number of sleep ratios of one study.
RATIOS = IntRange("number of ratios", 1, 64)
#: ``learn --rtl``: full-state comparison period in training samples.
CHECK_EVERY = IntRange("check every", 1, 1 << 20)
#: Worker processes of a parallel study.
PROCESSES = IntRange("processes", 1, 256)
#: Neurons per class of a learning (NCG) readout: 10 classes of 256 are 2560 neurons.
NEURONS_PER_CLASS = IntRange("neurons per class", 1, 256)
#: Neurons of one population of the recurrent (sleep-study) network; its recurrent weights
#: grow with the square, 4096^2 = 2^24 as ``LAYER_WEIGHTS``.
POPULATION = IntRange("population size", 1, 4096)

# --- sizes read from files: bounded before anything is allocated; SPIKESMITH_LIMITS ---------

#: Neurons of one layer, features of an input, rows or columns of a weight matrix.
LAYER_WIDTH = _size("layer_width")
#: Weights of one layer (rows x columns); 2^24 int64 weights are 128 MiB.
LAYER_WEIGHTS = _size("layer_weights")
#: Size in bytes of an input file the flow reads (IR text, JSON records); checked with
#: ``stat`` and read with at most ``hi + 1`` bytes, so a device or a huge file is refused.
INPUT_FILE_BYTES = _size("file_bytes")
#: Size in bytes of a checkpoint (``.safetensors``), bounded in the same way: the largest
#: layer (2^24 float32 weights) is 64 MiB.
CHECKPOINT_BYTES = _size("checkpoint_bytes")
