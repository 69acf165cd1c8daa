# amaranth: UnusedElaboratable=no
"""Run-time parameters of the recurrent core: what the host may change without a rebuild.

A :class:`~spikesmith.hw.recurrent.recurrent_core.RecurrentCore` is built from one
:class:`~spikesmith.sim.recurrent_net.NetConfig`; its values are the reset contents of the
core's registers and tables. The host rewrites them with ``SET`` commands
(:class:`~spikesmith.hw.recurrent.recurrent_streams.RecurrentSpace`):

* **run-time** (``SCALAR``, ``LO``, ``HI``, ``STOP``, ``KERNEL_*``, ``DECAY_*``): thresholds
  ``theta0``/``theta_max``, ``v_reset``, ``delta_a``, gain ``g``, STDP kernels and polarity
  (so ``lr``, ``a_plus``, ``a_minus``, ``tau_plus``, ``tau_minus``), group bounds and sleep
  targets, early-stop levels (so ``tol_shift`` and the baselines), noise gain, ``lambda``
  and ``decay_period``;
* **structural** (fixed by the build, must equal it): population sizes, the connectivity
  mask, ``weight_frac``, the shift leaks ``k_syn``, ``k_m``, ``k_a``, ``k_g``, the membrane
  range ``v_min``/``v_max``, ``age_bits``, ``log_frac``, ``n_uniform``, ``noise_shift``;
* **bounded by the build** (the datapath widths were sized from it): ``|g|``, ``delta_a``,
  ``|noise_gain|``, every column sum of the upper bounds (the drive), the kernel entries and
  the decay tables must not exceed what the build's values need. Build with the largest
  values a run will use.

:func:`parameter_writes` checks a new configuration against these rules (every violation
reported at once) and returns the writes; :func:`weight_writes` loads magnitudes and the group
sums that go with them.
"""

from __future__ import annotations

import numpy as np

from spikesmith.sim.recurrent import Connectivity, SynapseGroup, regroup
from spikesmith.sim.recurrent_net import NetConfig, synapse_sums
from spikesmith.sim.stdp import StdpPolarity, kernel_luts

from .decay_unit import DecayTable, DecayUnit
from .recurrent_config import RecurrentCoreConfig
from .recurrent_streams import RecurrentParam, RecurrentSpace

__all__ = ["Write", "parameter_writes", "stop_levels", "weight_writes"]

#: One ``SET``: address space, index, value (signed values as Python ints).
Write = tuple[RecurrentSpace, int, int]

_STRUCTURAL = {
    "neuron": ("n_input", "n_exc", "n_inh", "weight_frac", "syn_shift", "mem_shift",
               "adapt_shift", "gain_shift", "v_min", "v_max"),
    "stdp": ("age_bits", "weight_frac"),
    "sleep": ("log_frac", "n_uniform", "noise_shift"),
}


_DECAY_SPACES = {DecayTable.OCTAVE: RecurrentSpace.DECAY_OCTAVE,
                 DecayTable.FRACTION: RecurrentSpace.DECAY_FRACTION,
                 DecayTable.LOG_TARGET: RecurrentSpace.DECAY_LOG_TARGET}
#: Width of a command's ``value`` (``hw.recurrent.recurrent_streams``), bits.
_VALUE_BITS = 64


def _decay_writes(config: RecurrentCoreConfig, net: NetConfig) -> list[Write]:
    """The decay unit's table writes for ``net`` (a host-side copy of the build's unit, never
    elaborated, answers what fits)."""
    build = config.net
    unit = DecayUnit(build.sleep, weight_bits=config.weight_bits,
                     targets=[s.target for s in config.group_specs()], seed=1, tag_bits=1)
    writes = unit.program(sleep=net.sleep,
                          targets=[net.neuron.groups[g].target for g in SynapseGroup])
    top = 1 << (_VALUE_BITS - 1)
    if any(not -top <= v < top for _, _, v in writes):
        raise ValueError(f"decay table words must fit {_VALUE_BITS} signed bits (the command "
                         "value); use a larger lam or a shorter decay_period")
    return [(_DECAY_SPACES[t], i, int(v)) for t, i, v in writes]


def stop_levels(conn: Connectivity, net: NetConfig) -> tuple[int, ...]:
    """Return per group ``B + (B >> tol_shift)``, ``B`` the group's sum of ``conn.init``."""
    base = synapse_sums(conn.init, conn)
    return tuple(int(b) + (int(b) >> net.sleep.tol_shift) for b in base)


def _check(config: RecurrentCoreConfig, net: NetConfig, conn: Connectivity) -> list[str]:
    build = config.net
    problems = []
    for part, names in _STRUCTURAL.items():
        for name in names:
            have, want = getattr(getattr(net, part), name), getattr(getattr(build, part), name)
            if have != want:
                problems.append(f"{part}.{name} is fixed by the build ({want}), not {have}")
    if problems:        # the bounds below assume the structure
        return problems
    if not np.array_equal(conn.mask, config.conn.mask):
        problems.append("the connectivity mask is fixed by the build (seed "
                        f"{config.conn.seed}); a different one needs a rebuild")
    p, q = net.neuron, build.neuron
    limits = (("neuron.gain", abs(p.gain), abs(q.gain)),
              ("neuron.adapt_inc", p.adapt_inc, q.adapt_inc),
              ("sleep.noise_gain", abs(net.sleep.noise_gain), abs(build.sleep.noise_gain)))
    for name, have, most in limits:
        if have > most:
            problems.append(f"{name} must be at most {most} in magnitude (the build's), "
                            f"not {have}")
    if p.adapt_inc < 0:
        problems.append(f"neuron.adapt_inc must be >= 0, not {p.adapt_inc}")
    drive = int(conn.hi.sum(axis=0).max()) if conn.hi.size else 0
    if drive > config.drive_bound:
        problems.append(f"the largest column sum of the upper bounds must be at most "
                        f"{config.drive_bound} (the build's drive bound), not {drive}")
    top = (1 << config.weight_bits) - 1
    for g in SynapseGroup:
        if p.groups[g].hi > top:
            problems.append(f"groups[{g.name}].hi must be at most {top}, not {p.groups[g].hi}")
    k_top = (1 << config.kernel_bits) - 1
    for sign, table in zip("+-", kernel_luts(net.stdp), strict=True):
        if int(table.max()) > k_top:
            problems.append(f"the STDP kernel K{sign} must fit {config.kernel_bits} bits "
                            f"(at most {k_top}, from the build's lr and amplitudes), not "
                            f"{int(table.max())}")
    s_top = (1 << config.widths["sum"]) - 1
    levels = stop_levels(conn, net)
    if max(levels) > s_top:
        problems.append(f"early-stop levels must be at most {s_top}, not {max(levels)}")
    if not 1 <= net.sleep.decay_period <= 0xFFFF:
        problems.append(f"sleep.decay_period must be in 1..65535, not {net.sleep.decay_period}")
    return problems


def parameter_writes(config: RecurrentCoreConfig, *, net: NetConfig,
                     conn: Connectivity | None = None) -> list[Write]:
    """Return the ``SET`` writes that make a core built from ``config`` run ``net``.

    Parameters
    ----------
    config : RecurrentCoreConfig
        What the core was built from.
    net : NetConfig
        The configuration to run (module docstring: what may differ from the build).
    conn : Connectivity or None
        Its connectivity; default: the build's synapses with ``net``'s group bounds, targets
        and initial values (:func:`spikesmith.sim.recurrent.regroup`).

    Raises
    ------
    ValueError
        Naming every structural difference or bound exceeded, with the accepted value.
    """
    if not isinstance(net, NetConfig):
        raise TypeError(f"net must be a NetConfig, not {net!r}")
    conn = regroup(config.conn, net.neuron) if conn is None else conn
    problems = _check(config, net, conn)
    if not problems:
        try:
            decay = _decay_writes(config, net)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("the core cannot run this configuration without a rebuild: "
                         + "; ".join(problems))
    p = net.neuron
    scalars = {RecurrentParam.THETA0: p.theta0, RecurrentParam.THETA_MAX: p.theta_max,
               RecurrentParam.V_RESET: p.v_reset, RecurrentParam.ADAPT_INC: p.adapt_inc,
               RecurrentParam.GAIN: p.gain, RecurrentParam.NOISE_GAIN: net.sleep.noise_gain,
               RecurrentParam.DECAY_PERIOD: net.sleep.decay_period,
               RecurrentParam.POLARITY: int(net.stdp.polarity is StdpPolarity.AUTHORS_REVERSED)}
    out: list[Write] = [(RecurrentSpace.SCALAR, int(k), int(v)) for k, v in scalars.items()]
    for gi, g in enumerate(SynapseGroup):
        out += [(RecurrentSpace.LO, gi, p.groups[g].lo), (RecurrentSpace.HI, gi, p.groups[g].hi)]
    out += [(RecurrentSpace.STOP, gi, v) for gi, v in enumerate(stop_levels(conn, net))]
    plus, minus = kernel_luts(net.stdp)
    out += [(RecurrentSpace.KERNEL_PLUS, c, int(v)) for c, v in enumerate(plus)]
    out += [(RecurrentSpace.KERNEL_MINUS, c, int(v)) for c, v in enumerate(minus)]
    return out + decay


def weight_writes(config: RecurrentCoreConfig, m: np.ndarray) -> list[Write]:
    """Return the writes that load magnitudes ``m`` ``(n_pre, n_post)`` and their group sums.

    Raises
    ------
    ValueError
        If ``m`` has the wrong shape, is non-zero off the build's synapses, or exceeds the
        weight width.
    """
    m = np.asarray(m, dtype=np.int64)
    if m.shape != config.conn.mask.shape:
        raise ValueError(f"m must have shape {config.conn.mask.shape}, not {m.shape}")
    if np.any(m[config.conn.mask == 0]):
        raise ValueError("m must be zero where the build has no synapse")
    top = (1 << config.weight_bits) - 1
    if m.size and (m.min() < 0 or m.max() > top):
        raise ValueError(f"m must lie in 0..{top}, not {m.min()}..{m.max()}")
    pre, post = config.synapses
    out: list[Write] = [(RecurrentSpace.WEIGHT, k, int(v)) for k, v in enumerate(m[pre, post])]
    return out + [(RecurrentSpace.SUM, gi, int(v))
                  for gi, v in enumerate(synapse_sums(m, config.conn))]
