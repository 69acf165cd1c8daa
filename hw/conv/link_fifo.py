"""FIFO of the links after the conv cores, on a :class:`~spikesmith.hw.common.mem.SplitMemory`.

The interface and timing of ``amaranth.lib.fifo.SyncFIFOBuffered`` (a memory with a
synchronous read port, then an output register), but its memory is a ``SplitMemory``: a
shallow FIFO goes to LUT RAM on the targets that have it, where ``SyncFIFOBuffered``'s memory
took a whole block RAM (one DP16KD per link on the mnist5k conv network, whose 256-entry FIFOs
are 14 and 11 bits wide).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..common.mem import NO_RW_CHECK, SplitMemory

__all__ = ["LinkFifo"]


class LinkFifo(wiring.Component):
    """First-in first-out queue of ``depth + 1`` words (``depth`` in memory, one in the output
    register).

    Parameters
    ----------
    width : int
        Bits per word.
    depth : int
        Words of the memory (at least 2).

    Members
    -------
    w_data, w_en : In
        Word to write and its write request; written where ``w_en & w_rdy``.
    w_rdy : Out(1)
        The queue has room.
    r_data : Out(width)
        Oldest word, valid while ``r_rdy``.
    r_en : In(1)
        Take the oldest word (where ``r_rdy``).
    r_rdy : Out(1)
        ``r_data`` holds a word.
    level : Out(range(depth + 2))
        Words held.

    Raises
    ------
    ValueError
        If ``width`` is not positive or ``depth < 2``.
    """

    def __init__(self, *, width: int, depth: int):
        if width < 1 or depth < 2:
            raise ValueError(f"width must be positive and depth at least 2, not {width} and "
                             f"{depth}")
        self.width, self.depth = width, depth
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
            "level": Out(range(depth + 2)),
        })

    def elaborate(self, platform):
        """Build the memory, its pointers and the output register."""
        m = Module()
        depth = self.depth
        # a word is read only while the memory holds another one than the word being written
        m.submodules.storage = mem = SplitMemory(width=self.width, depth=depth,
                                                 attrs=NO_RW_CHECK)
        produce, consume = Signal(range(depth)), Signal(range(depth))
        inner = Signal(range(depth + 1))
        do_write = self.w_rdy & self.w_en
        do_read = (inner != 0) & (~self.r_rdy | self.r_en)
        m.d.comb += [
            self.w_rdy.eq(inner != depth),
            mem.w_addr.eq(produce), mem.w_data.eq(self.w_data), mem.w_en.eq(do_write),
            mem.r_addr.eq(consume), mem.r_en.eq(do_read), self.r_data.eq(mem.r_data),
            self.level.eq(inner + self.r_rdy),
        ]
        with m.If(do_write):
            m.d.sync += produce.eq(Mux(produce == depth - 1, 0, produce + 1))
        with m.If(do_read):
            m.d.sync += [consume.eq(Mux(consume == depth - 1, 0, consume + 1)),
                         self.r_rdy.eq(1)]
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        with m.If(do_write & ~do_read):
            m.d.sync += inner.eq(inner + 1)
        with m.Elif(do_read & ~do_write):
            m.d.sync += inner.eq(inner - 1)
        return m
