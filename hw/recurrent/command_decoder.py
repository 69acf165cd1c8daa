"""Host writes of the recurrent core: run-time parameter registers and write strobes.

Of the host commands (:class:`~spikesmith.hw.recurrent.recurrent_streams.RecurrentOp`), this
unit decodes those that write one word and finish in the cycle they are taken: ``PIXEL``,
``SET_INPUT_REG``, ``SET_NOISE_REG``, ``SET_DECAY_REG`` and ``SET`` (every
:class:`~spikesmith.hw.recurrent.recurrent_streams.RecurrentSpace`). It holds the run-time
registers (reset values: the build's, ``hw.recurrent.recurrent_params``) and drives a write
strobe, address and data towards each memory and table; every strobe is 0 unless ``strobe``
takes such a command. The commands that start work (``WAKE``, ``SLEEP``, ``DUMP_*``) are the
:class:`~spikesmith.hw.recurrent.sequencer.Sequencer`'s.

``regs`` words (:class:`~spikesmith.hw.recurrent.recurrent_core.RecurrentCore`): an LFSR24
register in bytes 0-2 and the pixel in byte 3 of each input's word, the noise registers of the
neurons after them, then the early-stop level of each group (all bytes).
"""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from spikesmith.sim.recurrent import SynapseGroup
from spikesmith.sim.stdp import StdpPolarity

from ..common.streams import index_bits
from .decay_unit import DecayTable
from .recurrent_config import CorePart, RecurrentCoreConfig, memory_addr_bits, signed_bits
from .recurrent_streams import RecurrentOp, RecurrentParam, RecurrentSpace, recurrent_command_layout

__all__ = ["CommandDecoder"]

#: ``SET`` address spaces of the decay unit's tables.
_DECAY_SPACES = {RecurrentSpace.DECAY_OCTAVE: DecayTable.OCTAVE,
                 RecurrentSpace.DECAY_FRACTION: DecayTable.FRACTION,
                 RecurrentSpace.DECAY_LOG_TARGET: DecayTable.LOG_TARGET}

#: Byte lanes of a ``regs`` word: the LFSR register (bytes 0-2) and the pixel (byte 3).
_LANES_REG, _LANE_PIXEL = 0b0111, 0b1000


class CommandDecoder(CorePart):
    """Run-time registers and one-word host writes (module docstring).

    Parameters
    ----------
    config : RecurrentCoreConfig
        Sizes, widths and the build's parameter values (reset values of the registers).

    Members
    -------
    command : In(recurrent_command_layout(command_items))
        The command on the core's ``cmd`` stream.
    strobe : In(1)
        The command is taken this cycle.
    theta0, theta_max, v_reset : Out(signed(widths["v"]))
    adapt_inc : Out(widths["a"])
    gain : Out(signed(gain_bits))
    noise_gain : Out(signed)
        ``SLEEP``'s noise gain (width of ``NoiseUnit.gain_bits``).
    period : Out(16)
        Steps per decay batch.
    polarity : Out(1)
        STDP polarity: 0 ``CAUSAL``, 1 ``AUTHORS_REVERSED``.
    lo, hi : Out(ArrayLayout(weight_bits, 5))
        Magnitude bounds of every synapse group.
    regs_en : Out(reg_word_bits // 8)
        Byte lanes written of ``regs`` word ``regs_addr``.
    regs_addr, regs_data : Out
    weight_en : Out(1)
        ``SET WEIGHT``: ``weights[weight_addr] = weight_data``.
    weight_addr, weight_data : Out
    kernel_en, kernel_minus : Out(1)
        ``SET KERNEL_*``: STDP table ``K-`` (``kernel_minus``) or ``K+`` entry ``kernel_addr``
        takes ``kernel_data``.
    kernel_addr, kernel_data : Out
    decay_en : Out(1)
        ``SET DECAY_*``: decay table ``decay_sel`` entry ``decay_addr`` takes ``decay_data``.
    decay_sel : Out(DecayTable)
    decay_addr, decay_data : Out
    decay_set : Out(1)
        ``SET_DECAY_REG``: the decay register takes ``decay_value``.
    decay_value : Out(16)
    sum_set : Out(1)
        ``SET SUM``: group ``command.index`` takes ``command.value``.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        p, sp, lp = config.net.neuron, config.net.stdp, config.net.sleep
        w, wb = config.widths, config.weight_bits
        vb = signed(w["v"])
        bounds = data.ArrayLayout(unsigned(wb), len(SynapseGroup))
        index = index_bits(config.command_items)
        rb = config.reg_word_bits
        return {
            "command": In(recurrent_command_layout(config.command_items)),
            "strobe": In(1),
            "theta0": Out(vb, init=p.theta0), "theta_max": Out(vb, init=p.theta_max),
            "v_reset": Out(vb, init=p.v_reset), "adapt_inc": Out(w["a"], init=p.adapt_inc),
            "gain": Out(signed(config.gain_bits), init=p.gain),
            "noise_gain": Out(signed(signed_bits(abs(lp.noise_gain))), init=lp.noise_gain),
            "period": Out(16, init=lp.decay_period),
            "polarity": Out(1, init=int(sp.polarity is StdpPolarity.AUTHORS_REVERSED)),
            "lo": Out(bounds, init=[s.lo for s in config.group_specs()]),
            "hi": Out(bounds, init=[s.hi for s in config.group_specs()]),
            "regs_en": Out(rb // 8),
            "regs_addr": Out(memory_addr_bits(config.stop_base + len(SynapseGroup))),
            "regs_data": Out(rb),
            "weight_en": Out(1), "weight_addr": Out(memory_addr_bits(config.n_syn)),
            "weight_data": Out(wb),
            "kernel_en": Out(1), "kernel_minus": Out(1), "kernel_addr": Out(index),
            "kernel_data": Out(64),
            "decay_en": Out(1), "decay_sel": Out(DecayTable), "decay_addr": Out(index),
            "decay_data": Out(64),
            "decay_set": Out(1), "decay_value": Out(16),
            "sum_set": Out(1),
        }

    def elaborate(self, platform):
        n_in = self._config.net.neuron.n_input
        cmd = self.command
        m = Module()
        with m.If(self.strobe), m.Switch(cmd.op):
            with m.Case(RecurrentOp.PIXEL):
                m.d.comb += [self.regs_addr.eq(cmd.index), self.regs_data[24:].eq(cmd.value),
                             self.regs_en.eq(_LANE_PIXEL)]
            with m.Case(RecurrentOp.SET_INPUT_REG):
                m.d.comb += [self.regs_addr.eq(cmd.index), self.regs_data[:24].eq(cmd.value),
                             self.regs_en.eq(_LANES_REG)]
            with m.Case(RecurrentOp.SET_NOISE_REG):
                m.d.comb += [self.regs_addr.eq(n_in + cmd.index),
                             self.regs_data[:24].eq(cmd.value), self.regs_en.eq(_LANES_REG)]
            with m.Case(RecurrentOp.SET_DECAY_REG):
                m.d.comb += [self.decay_set.eq(1), self.decay_value.eq(cmd.value)]
            with m.Case(RecurrentOp.SET):
                self._elaborate_set(m)
        return m

    def _elaborate_set(self, m):
        """``SET``: one write into the address space ``command.space``."""
        cmd, n_groups = self.command, len(SynapseGroup)
        scalars = {RecurrentParam.THETA0: self.theta0, RecurrentParam.THETA_MAX: self.theta_max,
                   RecurrentParam.V_RESET: self.v_reset, RecurrentParam.ADAPT_INC: self.adapt_inc,
                   RecurrentParam.GAIN: self.gain, RecurrentParam.NOISE_GAIN: self.noise_gain,
                   RecurrentParam.DECAY_PERIOD: self.period,
                   RecurrentParam.POLARITY: self.polarity}
        with m.Switch(cmd.space):
            with m.Case(RecurrentSpace.SCALAR), m.Switch(cmd.index):
                for param, reg in scalars.items():
                    with m.Case(param):
                        m.d.sync += reg.eq(cmd.value)
            for space, regs in ((RecurrentSpace.LO, self.lo), (RecurrentSpace.HI, self.hi)):
                with m.Case(space), m.Switch(cmd.index):
                    for gi in range(n_groups):
                        with m.Case(gi):
                            m.d.sync += regs[gi].eq(cmd.value)
            with m.Case(RecurrentSpace.KERNEL_PLUS, RecurrentSpace.KERNEL_MINUS):
                m.d.comb += [self.kernel_en.eq(1), self.kernel_addr.eq(cmd.index),
                             self.kernel_data.eq(cmd.value),
                             self.kernel_minus.eq(cmd.space == RecurrentSpace.KERNEL_MINUS)]
            for space, table in _DECAY_SPACES.items():
                with m.Case(space):
                    m.d.comb += [self.decay_en.eq(1), self.decay_sel.eq(table),
                                 self.decay_addr.eq(cmd.index), self.decay_data.eq(cmd.value)]
            with m.Case(RecurrentSpace.SUM):
                m.d.comb += self.sum_set.eq(1)
            with m.Case(RecurrentSpace.STOP), m.If(cmd.index < n_groups):
                base = self._config.stop_base
                m.d.comb += [self.regs_addr.eq(base + cmd.index), self.regs_data.eq(cmd.value),
                             self.regs_en.eq((1 << len(self.regs_en)) - 1)]
            with m.Case(RecurrentSpace.WEIGHT):
                m.d.comb += [self.weight_addr.eq(cmd.index), self.weight_data.eq(cmd.value),
                             self.weight_en.eq(1)]
