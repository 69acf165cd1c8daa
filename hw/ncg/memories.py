"""The NCG core's seven memories, their registered read ports, and how the units share them.

Organisation (``P`` = ``params.lanes`` synapse lanes, ``G = ceil(F / P)`` words per row)::

    weights      N*G words of P weights     word j*G + k = W[j, kP : kP+P]
    in_bins      G words of P bins          input spike bin of every feature (K = silent)
    events       F entries (feature, bin)   the sample's events in arrival order
    theta        N test thresholds; theta_train: N training thresholds; norm: N targets S0
    slots        n_upd (neuron, bin, target) of the neurons the update may touch

Each memory is read through a registered asynchronous port (:class:`RegisteredRead`) and
marked ``no_rw_check``, so that synthesis adds no read-first emulation logic around the block
RAMs.

Sharing: a unit asks for a port with a request bundle (:meth:`MemoryGeometry.read_request`,
:meth:`MemoryGeometry.write_request`) whose outputs it holds at 0 outside the sequencer states
in which it uses the port. The core ORs the requests of all users of a port
(:func:`share_read`, :func:`share_write`): the AND-OR multiplexer a ``Switch`` on the state
would build, with the choice of port user written where the user is.
"""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass
from functools import reduce

from amaranth.hdl import Module, Shape, ShapeLike, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from spikesmith.sim.ncg import NCGParams

from ..common.mem import NO_RW_CHECK
from .buses import updated_neurons
from .ncg_streams import NCGWidths

__all__ = ["MemoryGeometry", "NCGMemory", "RegisteredRead", "memory_geometry", "share_read",
           "share_write"]


class NCGMemory(enum.Enum):
    """The memories of the core (module docstring); the value is the submodule name."""

    WEIGHTS = "weights"
    IN_BINS = "in_bins"
    EVENTS = "events"
    THETA = "theta"
    THETA_TRAIN = "theta_train"
    NORM = "norm"
    SLOTS = "slots"


@dataclass(frozen=True)
class MemoryGeometry:
    """Shape, depth, initial words and write granularity of one memory.

    Parameters
    ----------
    shape : ShapeLike
        Word shape.
    depth : int
        Words, at least 2.
    init : tuple[int, ...]
        Initial words (the rest are 0).
    granularity : int or None
        Write-enable granularity in bits (``None``: one enable per word).
    """

    shape: ShapeLike
    depth: int
    init: tuple[int, ...] = ()
    granularity: int | None = None

    def __post_init__(self) -> None:
        Shape.cast(self.shape)
        if not isinstance(self.depth, int) or self.depth < 2:
            raise ValueError(f"depth must be an integer >= 2, not {self.depth!r}")
        if self.granularity is not None and Shape.cast(self.shape).width % self.granularity:
            raise ValueError(f"granularity {self.granularity!r} must divide the word width")

    @property
    def addr_bits(self) -> int:
        """Address width."""
        return ceil_log2(self.depth)

    def read_request(self) -> wiring.Signature:
        """A user's side of a read port: ``addr`` out, ``data`` in (registered: the word at the
        previous cycle's ``addr``)."""
        return wiring.Signature({"addr": Out(self.addr_bits), "data": In(self.shape)})

    def write_request(self) -> wiring.Signature:
        """A user's side of the write port: ``addr``, ``data``, ``en`` out (``en`` has one bit
        per ``granularity`` bits)."""
        width = Shape.cast(self.shape).width
        en_bits = 1 if self.granularity is None else width // self.granularity
        return wiring.Signature({"addr": Out(self.addr_bits), "data": Out(self.shape),
                                 "en": Out(en_bits)})

    def build(self) -> Memory:
        """Return the memory, marked ``no_rw_check`` (:class:`RegisteredRead`)."""
        return Memory(shape=self.shape, depth=self.depth, init=list(self.init),
                      attrs=NO_RW_CHECK)


def memory_geometry(params: NCGParams) -> dict[NCGMemory, MemoryGeometry]:
    """Return the geometry of every memory of the core built for ``params``."""
    wd = NCGWidths(params)
    cfg = params.config
    n_n, f_n, p, g_n = cfg.class_map.n_neurons, cfg.n_inputs, params.lanes, wd.groups
    bb = wd.bin
    silent_word = sum(params.time_bins << (lane * bb) for lane in range(p))
    thr = signed(wd.threshold)
    return {
        NCGMemory.WEIGHTS: MemoryGeometry(unsigned(p * wd.weight), max(2, n_n * g_n)),
        NCGMemory.IN_BINS: MemoryGeometry(unsigned(p * bb), max(2, g_n),
                                          (silent_word,) * max(2, g_n), granularity=bb),
        NCGMemory.EVENTS: MemoryGeometry(unsigned(wd.feature + bb), max(2, f_n)),
        NCGMemory.THETA: MemoryGeometry(thr, max(2, n_n)),
        NCGMemory.THETA_TRAIN: MemoryGeometry(thr, max(2, n_n)),
        NCGMemory.NORM: MemoryGeometry(unsigned(wd.potential + 1), max(2, n_n)),
        NCGMemory.SLOTS: MemoryGeometry(unsigned(wd.neuron + bb + 1),
                                        max(2, updated_neurons(params))),
    }


class RegisteredRead:
    """A synchronous read of ``mem``: an asynchronous port and a register with enable.

    It behaves exactly as ``mem.read_port()`` (read-first: data read in the cycle an address
    is written is the old word; ``data`` holds while ``en`` is low), in Amaranth and in
    Verilator. Yosys, however, folds the register into the block RAM port (``memory_dff``),
    which is where it honours the memory's ``no_rw_check`` attribute: no read-first emulation
    (a register per write address and data bit, a comparator and a multiplexer per read data
    bit: on the digits M = 5 core, 478 flip-flops and 343 UP5K logic cells over its seven
    memories).

    That is safe because no state uses data read in a cycle that writes the same memory:
    host writes are in ``IDLE``, which uses no read data, and every state that uses read data
    (``READ``, ``FWD_LOAD``, ``FWD_RUN``, ``REG_ADD``, ``SLOT``, ``PRE``, ``NORM``) issued the
    read in a cycle without a write to that memory, except ``UPD``, which reads word ``k + 1``
    of the row while it writes word ``k``.

    Parameters
    ----------
    m : Module
        Module that holds the port and the register.
    mem : Memory
        The memory.
    name : str
        Prefix of the register names.

    Members: ``addr``; ``en`` (1 where not driven, as ``read_port``); ``data``.
    """

    def __init__(self, m: Module, mem: Memory, name: str) -> None:
        port = mem.read_port(domain="comb")
        self.addr = port.addr
        self.en = Signal(init=1, name=f"{name}_en")
        self.data = Signal(mem.shape, name=f"{name}_data", reset_less=True)
        with m.If(self.en):
            m.d.sync += self.data.eq(port.data)


def _any(values: list) -> object:
    return reduce(operator.or_, values)


def share_read(m: Module, mem: Memory, requests: list, *, name: str) -> RegisteredRead:
    """Give the read requests ``requests`` one :class:`RegisteredRead` of ``mem``: the
    addresses ORed, the data to all. Return the port (its ``en`` is the caller's)."""
    port = RegisteredRead(m, mem, name)
    m.d.comb += port.addr.eq(_any([r.addr for r in requests]))
    m.d.comb += [r.data.eq(port.data) for r in requests]
    return port


def share_write(m: Module, mem: Memory, requests: list, *, granularity: int | None = None
                ) -> None:
    """Drive the write port of ``mem`` from the OR of the write requests ``requests``."""
    port = mem.write_port(granularity=granularity)
    for field in ("addr", "data", "en"):
        m.d.comb += getattr(port, field).eq(_any([getattr(r, field) for r in requests]))
