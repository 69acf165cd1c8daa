"""Memory attributes and block-RAM-friendly memories shared by the cores.

:data:`NO_RW_CHECK` marks a memory whose read ports never read an address in the cycle it is
written, or never use what they read then. Yosys then maps it onto block RAM as it is, instead
of adding read-first emulation (a register per address and data bit of the write port, a
comparator and a multiplexer per read bit): on the iCE40 that emulation took about 600
flip-flops and as many logic cells across the recurrent core's memories, 478 flip-flops and
343 logic cells across the NCG core's (which reads through ``hw.ncg.memories.RegisteredRead`` so
that Yosys folds the read register into the port, where it honours the attribute). Simulation
(Amaranth, Verilator) is unchanged: the attribute only tells synthesis that collisions do not
matter. Each memory that carries it says why at its definition.

Block RAM and distributed RAM, per target (the one place that chooses them).
:class:`SplitMemory` keeps a memory of ``width`` x ``depth`` bits as a block-RAM region (the
first ``rows`` words, their first ``bits`` bits) and the rest in distributed (LUT) RAM: the
words past ``rows`` (a depth tail) and the bits past ``bits`` of the first ``rows`` words (a
width tail), marked :data:`DISTRIBUTED_RAM` (Yosys ``ram_style = "distributed"``; a read-only
tail :data:`LOGIC_ROM`). :func:`block_region` chooses ``rows`` and ``bits`` from the ECP5
DP16KD shapes (:data:`BLOCK_SHAPES`): a memory fills whole blocks only at multiples of their
words and bits, so a deeper or wider one spends a whole row or column of blocks on its last
words or bits. The state memory of the mnist5k conv network's first core (1 152 words of 200
bits) took 18 DP16KD (6 x 36 bits wide, 3 x 512 words deep); as 1 024 words of 198 bits it
takes 11 (1024 x 18), and 128 words of 200 bits plus 1 024 words of 2 bits go to LUT RAM. The
generated Verilog is the same for every target (the design that Verilator verifies); what
differs is the memory each target's Yosys run builds from the attribute
(:func:`yosys_memory_commands`, run by ``hw.common.synth.synthesize`` before the synthesis
script):

=======  ===============================================================================
target   words marked ``ram_style = "distributed"`` (or ``"logic"``)
=======  ===============================================================================
ECP5     ``TRELLIS_DPR16X4`` LUT RAM (16 words x 4 bits, three slices each); ROM in LUTs
XC7      LUT RAM (``RAM32M``/``RAM64M``...); ROM in LUTs
iCE40    no LUT RAM: the attribute is removed and Yosys maps the words as it chooses
         (block RAM); requesting it would stop Yosys ("no valid mapping found")
=======  ===============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = [
    "BLOCK_SHAPES",
    "DISTRIBUTED_RAM",
    "LOGIC_ROM",
    "LUT4_PER_BLOCK",
    "LUT_RAM_TARGETS",
    "NO_RW_CHECK",
    "SplitMemory",
    "block_count",
    "block_region",
    "lut_ram_cost",
    "yosys_memory_commands",
]

#: ``attrs`` of a memory without read/write collisions that matter (module docstring).
NO_RW_CHECK = {"no_rw_check": 1}

#: ``attrs`` of a memory to be built from LUT RAM on the targets that have it (module
#: docstring).
DISTRIBUTED_RAM = {"ram_style": "distributed"}

#: ``attrs`` of a read-only memory to be built from logic (LUTs) where LUT RAM exists: ECP5 LUT
#: RAM needs a write port, so Yosys cannot map a ROM onto it.
LOGIC_ROM = {"ram_style": "logic"}

#: Targets (``hw.common.synth.Target`` values) whose Yosys run honours :data:`DISTRIBUTED_RAM`.
LUT_RAM_TARGETS = frozenset({"ecp5", "xc7"})

#: The ECP5 DP16KD shapes ``(words, bits)`` with one read and one write port (512 x 36 is the
#: pseudo-dual-port PDPW16KD): :func:`block_region` counts blocks with them.
BLOCK_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))

#: LUT4 that :func:`block_region` spends to save one block RAM. The LFE5U-25F has 434 LUT4 per
#: DP16KD (24 288 / 56), but block RAM is what the mnist5k conv network runs out of first (its
#: logic used half the LUT4), so a block is worth more here.
LUT4_PER_BLOCK = 1000


def block_count(bits: int, words: int) -> int:
    """Return the fewest :data:`BLOCK_SHAPES` blocks that hold ``words`` words of ``bits``."""
    if bits <= 0 or words <= 0:
        return 0
    return min(-(-bits // bw) * -(-words // bd) for bd, bw in BLOCK_SHAPES)


def lut_ram_cost(bits: int, words: int) -> int:
    """Return about how many LUT4 hold ``words`` words of ``bits`` in ECP5 LUT RAM: four per
    ``TRELLIS_DPR16X4`` (16 words of 4 bits), and the read multiplexer over the 16-word
    cells, about one LUT4 per cell after the first, per bit."""
    if bits <= 0 or words <= 0:
        return 0
    cells = -(-words // 16)
    return cells * -(-bits // 4) * 4 + bits * (cells - 1)


def block_region(width: int, depth: int) -> tuple[int, int]:
    """Return ``(rows, bits)`` of the block-RAM region of a ``width`` x ``depth`` memory.

    Among the regions whose rows and bits are the whole memory or whole multiples of a
    :data:`BLOCK_SHAPES` shape (or empty: all LUT RAM), the one of least ``blocks +
    LUT4 / LUT4_PER_BLOCK`` (:func:`lut_ram_cost` of the width and depth tails).
    """
    rows_c = {depth, 0} | {depth // bd * bd for bd, _ in BLOCK_SHAPES}
    bits_c = {width} | {width // bw * bw for _, bw in BLOCK_SHAPES}
    best = None
    for rows in sorted(rows_c, reverse=True):
        for bits in sorted(bits_c, reverse=True):
            if rows == 0 or bits == 0:
                rows, bits = 0, 0
            lut = lut_ram_cost(width - bits, rows) + lut_ram_cost(width, depth - rows)
            cost = block_count(bits, rows) + lut / LUT4_PER_BLOCK
            if best is None or cost < best[0]:
                best = (cost, (rows, bits))
    return best[1]


def yosys_memory_commands(target: str) -> tuple[str, ...]:
    """Return the Yosys commands that choose ``target``'s memories (module docstring): none
    where LUT RAM exists, else the removal of every ``ram_style`` request."""
    return () if target in LUT_RAM_TARGETS else ("setattr -unset ram_style a:ram_style",)


class SplitMemory(wiring.Component):
    """A memory of ``depth`` words with one synchronous read port and one optional write port,
    split into a block-RAM region and distributed-RAM tails (module docstring).

    With ``(rows, bits) = block_region(width, depth)``: bits ``[0, bits)`` of words
    ``[0, rows)`` live in ``block``, their bits ``[bits, width)`` in ``side``, words
    ``[rows, depth)`` in ``tail`` (at ``a - rows``). The read data is that of the address one
    cycle earlier (not transparent), as an ``amaranth.lib.memory`` read port; a depth tail
    adds a multiplexer after the memories, selected by a register.

    Parameters
    ----------
    width : int
        Bits per word.
    depth : int
        Words.
    init : sequence of int
        Initial contents (missing words are 0).
    writable : bool
        Whether there is a write port (``w_addr``, ``w_data``, ``w_en``).
    attrs : mapping
        Attributes of every part (e.g. :data:`NO_RW_CHECK`).

    Members
    -------
    r_addr : In(range(depth))
        Read address.
    r_en : In(1, init=1)
        Read enable: ``r_data`` holds while it is low.
    r_data : Out(width)
        Word at ``r_addr`` of the last cycle with ``r_en``.
    w_addr, w_data, w_en : In
        Write port (when ``writable``): ``w_data`` is written at ``w_addr`` where ``w_en``.

    Raises
    ------
    ValueError
        If ``width`` or ``depth`` is not positive or ``init`` has more than ``depth`` words.
    """

    def __init__(self, *, width: int, depth: int, init: Sequence[int] = (),
                 writable: bool = True, attrs: Mapping[str, int | str] | None = None):
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be positive, not {width} and {depth}")
        if len(init) > depth:
            raise ValueError(f"init must hold at most {depth} words, not {len(init)}")
        self.width, self.depth, self.writable = width, depth, writable
        self.rows, self.bits = block_region(width, depth)
        self._init = [int(v) for v in init] + [0] * (depth - len(init))
        self._attrs = dict(attrs or {})
        members = {"r_addr": In(range(depth)), "r_en": In(1, init=1), "r_data": Out(width)}
        if writable:
            members |= {"w_addr": In(range(depth)), "w_data": In(width), "w_en": In(1)}
        super().__init__(members)

    def _part(self, m: Module, name: str, *, words: range, bits: range, attrs: dict) -> Signal:
        """Add the memory of ``bits`` of ``words``; return its read data."""
        lo, mask = words.start, (1 << len(bits)) - 1
        init = [(v >> bits.start) & mask for v in self._init[words.start:words.stop]]
        mem = Memory(shape=unsigned(len(bits)), depth=max(2, len(words)), init=init,
                     attrs=attrs)
        m.submodules[name] = mem
        rd = mem.read_port()
        m.d.comb += [rd.addr.eq(self.r_addr - lo), rd.en.eq(self.r_en)]
        if self.writable:
            wr = mem.write_port()
            inside = self.w_addr >= lo if lo else self.w_addr < words.stop
            m.d.comb += [wr.addr.eq(self.w_addr - lo),
                         wr.data.eq(self.w_data[bits.start:bits.stop]),
                         wr.en.eq(self.w_en & inside)]
        return rd.data

    def elaborate(self, platform):
        """Build the block region, the distributed tails and the read multiplexer."""
        m = Module()
        lut = self._attrs | (DISTRIBUTED_RAM if self.writable else LOGIC_ROM)
        rows, bits, width, depth = self.rows, self.bits, self.width, self.depth
        if rows == 0:
            data = self._part(m, "tail", words=range(depth), bits=range(width), attrs=lut)
            m.d.comb += self.r_data.eq(data)
            return m
        head = [self._part(m, "block", words=range(rows), bits=range(bits), attrs=self._attrs)]
        if bits < width:
            head.append(self._part(m, "side", words=range(rows), bits=range(bits, width),
                                   attrs=lut))
        if rows == depth:
            m.d.comb += self.r_data.eq(Cat(*head))
            return m
        tail = self._part(m, "tail", words=range(rows, depth), bits=range(width), attrs=lut)
        in_tail = Signal()
        with m.If(self.r_en):
            m.d.sync += in_tail.eq(self.r_addr >= rows)
        m.d.comb += self.r_data.eq(Mux(in_tail, tail, Cat(*head)))
        return m
