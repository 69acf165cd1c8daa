"""What a recurrent core is built from: constants, connectivity, initial state, and the datapath
widths and memory contents derived from them (:class:`RecurrentCoreConfig`).

The core (:mod:`spikesmith.hw.recurrent.recurrent_core`) and each of its sub-components take
one; the widths are sized from the build's values (``hw.recurrent.recurrent_params``: what a
run may change without a rebuild).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from amaranth.lib import wiring

from spikesmith.sim.fixed import bits_for_range
from spikesmith.sim.recurrent import Connectivity, SynapseGroup
from spikesmith.sim.recurrent_net import NetConfig, NetState
from spikesmith.sim.stdp import kernel_luts

from .recurrent_streams import RecurrentParam

__all__ = ["CorePart", "RecurrentCoreConfig", "memory_addr_bits", "signed_bits"]


#: Upper bound on the decay octave table's entries (log2 distances of up to 64 octaves).
_OCTAVE_ENTRIES_MAX = 128


def signed_bits(bound: int) -> int:
    """Return the width of a signed value in ``[-bound, bound]`` (``bound >= 0``), bits."""
    return bits_for_range(-int(bound), int(bound))


@dataclass(frozen=True, eq=False)
class RecurrentCoreConfig:
    """What the core is built from: constants, connectivity and the initial state.

    Parameters
    ----------
    net : NetConfig
        Neuron, STDP and sleep constants (elaboration-time).
    conn : Connectivity
        Which synapses exist (the CSR structure and group bounds are fixed at build).
    state : NetState
        Initial contents of every memory and register (weights, neurons, ages, LFSRs).

    Raises
    ------
    TypeError
        On arguments of the wrong type.
    ValueError
        On shapes that do not match ``net`` or state outside the representable range.
    """

    net: NetConfig
    conn: Connectivity
    state: NetState

    def __post_init__(self) -> None:
        if not isinstance(self.net, NetConfig):
            raise TypeError(f"net must be a NetConfig, not {self.net!r}")
        if not isinstance(self.conn, Connectivity):
            raise TypeError(f"conn must be a Connectivity, not {self.conn!r}")
        if not isinstance(self.state, NetState):
            raise TypeError(f"state must be a NetState, not {self.state!r}")
        p = self.net.neuron
        if self.conn.mask.shape != (p.n_pre, p.n_post):
            raise ValueError(f"conn.mask must have shape {(p.n_pre, p.n_post)}, not "
                             f"{self.conn.mask.shape!r}")
        if self.conn.mask[:p.n_input, p.n_exc:].any():
            raise ValueError("conn must have no input-to-inhibitory synapses, not "
                             f"{int(self.conn.mask[:p.n_input, p.n_exc:].sum())}")
        if self.state.m.shape != (p.n_pre, p.n_post):
            raise ValueError(f"state.m must have shape {(p.n_pre, p.n_post)}, not "
                             f"{self.state.m.shape!r}")
        m = self.state.m
        if np.any((m < self.conn.lo) | (m > self.conn.hi)):
            raise ValueError("state.m must lie within conn.lo..conn.hi on every synapse")
        y = np.abs(self.state.neurons.y)
        if y.size and int(y.max()) > self.y_bound:
            raise ValueError(f"state.neurons.y must be within +-{self.y_bound}, not "
                             f"{int(y.max())}")

    @cached_property
    def synapses(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, post)`` indices of the existing synapses, ascending row-major, ``int64``."""
        flat = np.flatnonzero(self.conn.mask.ravel())
        n_post = self.net.neuron.n_post
        return flat // n_post, flat % n_post

    @property
    def n_syn(self) -> int:
        """Existing synapses ``S``."""
        return int(self.synapses[0].size)

    @cached_property
    def row_end(self) -> np.ndarray:
        """One past the last synapse address of every row, ``(n_pre,)``."""
        return np.cumsum(self.conn.mask.sum(axis=1)).astype(np.int64)

    @cached_property
    def weight_bits(self) -> int:
        """Width of a magnitude, bits (holds every group's upper bound and the kernels)."""
        his = [s.hi for s in self.group_specs()]
        kernels = [int(v) for t in kernel_luts(self.net.stdp) for v in t]
        return max(1, max(his).bit_length(), max(kernels).bit_length())

    @cached_property
    def drive_bound(self) -> int:
        """Largest ``|d|`` of one step: the largest column sum of the upper bounds."""
        return int(self.conn.hi.sum(axis=0).max()) if self.conn.hi.size else 0

    @cached_property
    def y_bound(self) -> int:
        """Largest ``|y|``: ``2**k_syn (D + 1)`` (fixed point of the leaky sum)."""
        return (1 << self.net.neuron.syn_shift) * (self.drive_bound + 1)

    @cached_property
    def a_bound(self) -> int:
        """Largest adaptation ``a``: ``2**k_a (delta_a + 1)``."""
        p = self.net.neuron
        return max((1 << p.adapt_shift) * (p.adapt_inc + 1), int(self.state.neurons.a.max()))

    @cached_property
    def widths(self) -> dict[str, int]:
        """Datapath widths: drive ``d``, ``y``, ``v``, ``a``, group sums, bits."""
        p = self.net.neuron
        return {
            "d": signed_bits(self.drive_bound),
            "y": signed_bits(self.y_bound),
            "v": signed_bits(max(abs(p.v_min), abs(p.v_max))),
            "a": max(1, self.a_bound.bit_length()),
            "sum": max(1, (self.n_syn * int(self.conn.hi.max(initial=1))).bit_length()),
        }

    @cached_property
    def command_items(self) -> int:
        """Items a command ``index`` must address: inputs, neurons, synapses, table entries."""
        p, sp, lp = self.net.neuron, self.net.stdp, self.net.sleep
        return max(p.n_input, p.n_post, self.n_syn, sp.age_max + 1, 1 << lp.log_frac,
                   _OCTAVE_ENTRIES_MAX, len(RecurrentParam), len(SynapseGroup))

    @cached_property
    def kernel_bits(self) -> int:
        """Width of an STDP kernel entry (the build's largest entry), bits."""
        return max(1, max(int(v) for t in kernel_luts(self.net.stdp) for v in t).bit_length())

    @cached_property
    def gain_bits(self) -> int:
        """Width of the signed gain register: holds ``+-|g|`` of the build."""
        return signed_bits(abs(self.net.neuron.gain))

    @cached_property
    def stop_levels(self) -> tuple[int, ...]:
        """Per group ``B + (B >> tol_shift)``, ``B`` the sum of ``conn.init`` (enum order)."""
        tol = self.net.sleep.tol_shift
        out = []
        for gi in range(len(SynapseGroup)):
            b = int(self.conn.init[self.conn.group == gi].sum())
            out.append(b + (b >> tol))
        return tuple(out)

    def group_specs(self):
        """Return the ``GroupSpec`` of every group in enum order."""
        return [self.net.neuron.groups[g] for g in SynapseGroup]

    @property
    def tag_bits(self) -> int:
        """Width of a synapse address carried through the learning pipeline, bits."""
        return max(1, self.n_syn.bit_length())

    @property
    def post_bits(self) -> int:
        """Width of a postsynaptic index (a ``post`` memory word), bits."""
        return max(1, (self.net.neuron.n_post - 1).bit_length())

    @property
    def reg_word_bits(self) -> int:
        """Width of a ``regs`` word: ``{pixel, LFSR24}`` or an early-stop level, whole bytes."""
        return max(32, -(-self.widths["sum"] // 8) * 8)

    @property
    def stop_base(self) -> int:
        """Address of the first early-stop level in ``regs`` (after the LFSR registers)."""
        return self.net.neuron.n_input + self.net.neuron.n_post

    @cached_property
    def pre_words(self) -> list[int]:
        """Initial ``pre`` words ``{row_end, spike, age}``, one per presynaptic neuron."""
        ab, st = self.net.stdp.age_bits, self.state
        words = [int(a) | (int(e) << (ab + 1))
                 for a, e in zip(st.ages, self.row_end, strict=True)]
        for j, s in enumerate(st.neurons.s):
            words[self.net.neuron.n_input + j] |= int(bool(s)) << ab
        return words

    @cached_property
    def neuron_words(self) -> list[int]:
        """Initial ``neurons`` words ``{a, v, y}`` (two's complement ``y`` and ``v``)."""
        yb, vb = self.widths["y"], self.widths["v"]
        n = self.state.neurons
        return [(int(y) & ((1 << yb) - 1)) | ((int(v) & ((1 << vb) - 1)) << yb)
                | (int(a) << (yb + vb)) for y, v, a in zip(n.y, n.v, n.a, strict=True)]

    @cached_property
    def reg_words(self) -> list[int]:
        """Initial ``regs`` words: input registers, noise registers, early-stop levels."""
        st = self.state
        return ([int(v) for v in st.input_regs] + [int(v) for v in st.noise_regs]
                + list(self.stop_levels))


def memory_addr_bits(depth: int) -> int:
    """Return the address width of a memory of ``max(2, depth)`` words (the core's), bits."""
    return (max(2, depth) - 1).bit_length()


class CorePart(wiring.Component):
    """A part of the recurrent core, built from the core's configuration.

    Subclasses list their members in :meth:`_members` (called once, after the check).

    Parameters
    ----------
    config : RecurrentCoreConfig
        What the core is built from.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def __init__(self, config: RecurrentCoreConfig):
        if not isinstance(config, RecurrentCoreConfig):
            raise TypeError(f"config must be a RecurrentCoreConfig, not {config!r}")
        self._config = config
        super().__init__(self._members(config))

    def _members(self, config: RecurrentCoreConfig) -> dict:
        """Return the signature members (``In``/``Out``) of the part for ``config``."""
        raise NotImplementedError

    @property
    def config(self) -> RecurrentCoreConfig:
        """The configuration the part was built from."""
        return self._config
