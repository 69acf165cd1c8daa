"""Memory attributes shared by the cores (NCG learning core, recurrent core).

:data:`NO_RW_CHECK` marks a memory whose read ports never read an address in the cycle it is
written, or never use what they read then. Yosys then maps it onto block RAM as it is, instead
of adding read-first emulation (a register per address and data bit of the write port, a
comparator and a multiplexer per read bit): on the iCE40 that emulation took about 600
flip-flops and as many logic cells across the recurrent core's memories, 478 flip-flops and
343 logic cells across the NCG core's (which reads through ``hw.ncg.memories.RegisteredRead`` so
that Yosys folds the read register into the port, where it honours the attribute). Simulation
(Amaranth, Verilator) is unchanged: the attribute only tells synthesis that collisions do not
matter. Each memory that carries it says why at its definition.
"""

from __future__ import annotations

__all__ = ["NO_RW_CHECK"]

#: ``attrs`` of a memory without read/write collisions that matter (module docstring).
NO_RW_CHECK = {"no_rw_check": 1}
