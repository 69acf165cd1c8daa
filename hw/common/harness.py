"""A low-pin wrapper that measures the Fmax of any component with register-to-register paths.

A bare core has far more port bits than a small package has pins (the iCE40 UP5K SG48 has 39
I/O), and its ports would be unregistered I/O paths that hide the core's internal timing. The
:class:`FmaxHarness` drives every input port from one serial-in shift register and captures
every output port into a register whose bits are folded (XOR of bits ``k``, ``k + 64``, ...)
into a multiple-input signature register (MISR) of at most 64 bits, shifted out on one pin.
Every timing path therefore starts and ends at a flip-flop, the design needs three pins
(``sin``, ``sout`` and the clock, plus the domain reset), and no output bit can be optimised
away: each one reaches ``sout`` through the MISR.
"""

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FmaxHarness"]

#: Widest signature register; wider outputs are XOR-folded onto it (a two-level LUT4 tree for
#: a few hundred output bits) so that the harness stays small beside the core it measures.
SIGNATURE_BITS = 64


def _ports(core: wiring.Component) -> list:
    """Return ``(path, member, value)`` of ``core``'s ports that are signals, not constants.

    Constant members, such as the ``ready`` of an ``always_ready`` stream, carry no logic.
    """
    return [
        (path, member, value)
        for path, member, value in core.signature.flatten(core)
        if not isinstance(Value.cast(value), Const)
    ]


class FmaxHarness(wiring.Component):
    """Serial-in / signature-out wrapper around ``core`` (clocked by the ``sync`` domain).

    Parameters
    ----------
    core : wiring.Component
        Component whose signature flattens to plain ports (signals, ``data`` views, streams),
        all clocked by ``sync``.

    Members
    -------
    sin : In(1)
        Serial data shifted into the chain that drives all of ``core``'s inputs.
    sout : Out(1)
        Last bit of the signature register that compacts all of ``core``'s outputs.

    Raises
    ------
    TypeError
        If ``core`` is not a ``wiring.Component``.
    ValueError
        If ``core`` has no output port (there would be nothing to observe).
    """

    sin: In(1)
    sout: Out(1)

    def __init__(self, core: wiring.Component) -> None:
        if not isinstance(core, wiring.Component):
            self._MustUse__silence = True  # a rejected harness is no unused design
            raise TypeError(f"core must be a wiring.Component, not {core!r}")
        ports = _ports(core)
        self._in_bits = sum(len(Value.cast(v)) for _, m, v in ports if m.flow is wiring.In)
        self._out_bits = sum(len(Value.cast(v)) for _, m, v in ports if m.flow is wiring.Out)
        if self._out_bits == 0:
            self._MustUse__silence = True
            raise ValueError(f"core must have at least one output port, not none in {core!r}")
        self._core = core
        super().__init__()

    @property
    def core(self) -> wiring.Component:
        """The wrapped component."""
        return self._core

    @property
    def in_bits(self) -> int:
        """Length of the input shift chain, bits."""
        return self._in_bits

    @property
    def out_bits(self) -> int:
        """Width of the output capture register, bits (the signature register has at most
        :data:`SIGNATURE_BITS`)."""
        return self._out_bits

    def elaborate(self, platform) -> Module:
        """Build the shift chain, the core, the capture register and the MISR."""
        m = Module()
        m.submodules.core = core = self._core
        ports = _ports(core)

        if self._in_bits:
            chain = Signal(self._in_bits)
            m.d.sync += chain.eq(Cat(self.sin, chain[:-1]))
            offset = 0
            for _, member, value in ports:
                if member.flow is wiring.In:
                    width = len(Value.cast(value))
                    m.d.comb += value.eq(chain[offset : offset + width])
                    offset += width

        outputs = Cat(*(Value.cast(v) for _, m_, v in ports if m_.flow is wiring.Out))
        capture = Signal(self._out_bits)
        width = min(self._out_bits, SIGNATURE_BITS)
        folded = Const(0, width)
        for k in range(0, self._out_bits, width):
            chunk = capture[k : k + width]
            folded = folded ^ Cat(chunk, Const(0, width - len(chunk)))
        signature = Signal(width)
        m.d.sync += [
            capture.eq(outputs),
            # rotate-and-XOR: each capture bit reaches sout within ``width`` cycles
            signature.eq(Cat(signature[-1], signature[:-1]) ^ folded),
            self.sout.eq(signature[-1]),
        ]
        return m
