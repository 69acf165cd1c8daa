"""The recurrent E/I network with STDP and sleep: state record, one-step functions and the
block-level drivers a hardware bench calls.

Equations live in their defining modules: neurons and rate coding in ``sim.recurrent``, STDP
in ``sim.stdp``, noise, decay, stop and schedule in ``sim.sleep``. This module fixes the order
of the stages within a step:

:func:`wake_step`
    1. every input register draws once, ``x = pixel > r`` (``sim.recurrent.rate_encode``);
    2. drive from ``x`` and the neuron spikes of the previous step; neuron step, noise 0;
    3. age counters of inputs and neurons from ``x`` and the new spikes;
    4. STDP with those spikes and ages.
:func:`sleep_step`
    1. input gated off (``x = 0``, input registers do not advance);
    2. each neuron's noise register makes ``n_uniform`` draws (``sim.sleep.noise_step``);
    3. as wake steps 2-4 with the noise added to the membrane;
    4. ``episode_step += 1``; if it is a multiple of ``decay_period``, one decay batch
       (``sim.sleep.decay_step``) over every existing synapse.

Seeding (:func:`init_network`): connectivity from ``default_rng(seed)``
(``sim.recurrent.make_connectivity``); the input, noise and decay registers from
``default_rng([seed, 1])`` drawn in that order (``integers(1, 2**24)`` per input, then per
neuron, then ``integers(1, 2**16)`` once). So the seed changes connectivity, input spike
trains and noise together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from .ops import exact_matmul
from .recurrent import (
    Connectivity,
    NeuronParams,
    NeuronState,
    SynapseGroup,
    make_connectivity,
    neuron_step,
    rate_encode,
    synaptic_drive,
)
from .sleep import Phase, SleepParams, decay_step, noise_step, sleep_length, sums_at_baseline
from .stdp import StdpParams, StdpPolarity, _apply_inplace, age_step, kernel_luts

__all__ = [
    "NetConfig",
    "NetState",
    "SleepRecord",
    "WakeRecord",
    "evaluate_counts",
    "init_network",
    "run_sleep_episode",
    "run_wake_block",
    "sleep_budget",
    "sleep_step",
    "synapse_sums",
    "wake_step",
]


@dataclass(frozen=True)
class NetConfig:
    """Everything that defines a network run except the data.

    Parameters
    ----------
    neuron : NeuronParams
        Population sizes, neuron constants, synapse groups.
    stdp : StdpParams
        STDP kernels and polarity.
    sleep : SleepParams
        Noise and decay constants.
    seed : int
        Seed of connectivity and of every LFSR register (module docstring).
    steps_per_image : int
        Wake steps each image is presented (paper: 100).
    """

    neuron: NeuronParams = field(default_factory=NeuronParams)
    stdp: StdpParams = field(default_factory=StdpParams)
    sleep: SleepParams = field(default_factory=SleepParams)
    seed: int = 0
    steps_per_image: int = 100

    def __post_init__(self) -> None:
        if self.stdp.weight_frac != self.neuron.weight_frac:
            raise ValueError(
                f"stdp.weight_frac must equal neuron.weight_frac ({self.neuron.weight_frac}), "
                f"not {self.stdp.weight_frac!r}"
            )
        if not isinstance(self.steps_per_image, int) or self.steps_per_image < 1:
            raise ValueError(
                f"steps_per_image must be an integer >= 1, not {self.steps_per_image!r}"
            )


@dataclass(frozen=True, eq=False)
class NetState:
    """Complete state of one network (what a hardware readback returns).

    Attributes
    ----------
    m : np.ndarray
        ``int64`` weight magnitudes ``(n_pre, n_post)``.
    neurons : NeuronState
        Currents, membranes, adaptation, last spikes, ``(n_post,)``.
    ages : np.ndarray
        ``int64`` STDP age counters of every presynaptic neuron ``(n_pre,)`` (the last
        ``n_post`` are also the postsynaptic ages).
    input_regs, noise_regs : np.ndarray
        ``LFSR24`` registers per input and per neuron.
    decay_reg : int
        ``sim.sleep.DECAY_LFSR`` register.
    episode_step : int
        Steps since the current sleep episode started.
    """

    m: np.ndarray
    neurons: NeuronState
    ages: np.ndarray
    input_regs: np.ndarray
    noise_regs: np.ndarray
    decay_reg: int
    episode_step: int = 0


@dataclass(frozen=True, eq=False)
class WakeRecord:
    """What a wake block produced: spikes ``(T, n_post)``, membranes if asked, group sums."""

    spikes: np.ndarray
    membranes: np.ndarray | None
    sums: np.ndarray
    phase: Phase = Phase.WAKE


@dataclass(frozen=True, eq=False)
class SleepRecord:
    """What a sleep episode produced.

    Attributes
    ----------
    steps : int
        Steps slept (a multiple of ``decay_period``).
    budget : int
        Steps allowed.
    stopped_early : bool
        Whether the group sums returned to baseline before the budget ran out.
    spikes : np.ndarray
        ``bool`` ``(steps, n_post)``.
    sums : np.ndarray
        Group sums ``(batches, n_groups)`` after every decay batch.
    """

    steps: int
    budget: int
    stopped_early: bool
    spikes: np.ndarray
    sums: np.ndarray
    phase: Phase = Phase.SLEEP


def init_network(cfg: NetConfig) -> tuple[Connectivity, NetState]:
    """Return the connectivity and initial state of ``cfg`` (seeding in the module doc)."""
    p = cfg.neuron
    conn = make_connectivity(p, seed=cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    input_regs = rng.integers(1, 1 << 24, size=p.n_input, dtype=np.int64)
    noise_regs = rng.integers(1, 1 << 24, size=p.n_post, dtype=np.int64)
    decay_reg = int(rng.integers(1, 1 << 16))
    state = NetState(
        m=conn.init.copy(),
        neurons=NeuronState.zeros((p.n_post,)),
        ages=np.full(p.n_pre, cfg.stdp.age_max, dtype=np.int64),
        input_regs=input_regs,
        noise_regs=noise_regs,
        decay_reg=decay_reg,
    )
    return conn, state


def synapse_sums(m: np.ndarray, conn: Connectivity) -> np.ndarray:
    """Return ``sum |w|`` per ``SynapseGroup`` (in enum order), weight LSBs, ``int64``."""
    return np.array([m[conn.group == i].sum() for i in range(len(SynapseGroup))], dtype=np.int64)


def sleep_budget(cfg: NetConfig, *, ratio: float, wake_steps: int) -> int:
    """Return the sleep budget after ``wake_steps`` awake (``sim.sleep.sleep_length``)."""
    return sleep_length(ratio=ratio, wake_steps=wake_steps, decay_period=cfg.sleep.decay_period)


class _Runner:
    """Mutable working copy used by the drivers; every public function is pure."""

    def __init__(self, state: NetState, conn: Connectivity, cfg: NetConfig) -> None:
        self.cfg, self.conn, self.p = cfg, conn, cfg.neuron
        self.m = state.m.copy()
        self.neurons = state.neurons
        self.ages = state.ages.copy()
        self.input_regs = state.input_regs.copy()
        self.noise_regs = state.noise_regs.copy()
        self.decay_reg = state.decay_reg
        self.episode_step = state.episode_step
        self.ltp, self.ltd = kernel_luts(cfg.stdp)
        self.syn = np.flatnonzero(conn.mask.ravel())
        self.syn_target = conn.target.ravel()[self.syn]
        self.syn_lo = conn.lo.ravel()[self.syn]
        self.syn_hi = conn.hi.ravel()[self.syn]
        self.zero_x = np.zeros(self.p.n_input, dtype=bool)
        self.syn_group = conn.group.ravel()[self.syn].astype(np.int64)

    def state(self) -> NetState:
        return NetState(
            self.m.copy(),
            self.neurons,
            self.ages.copy(),
            self.input_regs.copy(),
            self.noise_regs.copy(),
            self.decay_reg,
            self.episode_step,
        )

    def sums(self) -> np.ndarray:
        """Return :func:`synapse_sums` of the current magnitudes."""
        return synapse_sums(self.m, self.conn)

    def step(self, x: np.ndarray, noise: np.ndarray | int) -> None:
        pre = np.concatenate([x, self.neurons.s])
        d = synaptic_drive(self.m, pre, self.p)
        self.neurons = neuron_step(self.neurons, d, noise, self.p)
        spk = np.concatenate([x, self.neurons.s])
        self.ages = age_step(self.ages, spk, self.cfg.stdp)
        _apply_inplace(
            self.m,
            pre_idx=np.flatnonzero(spk),
            post_idx=np.flatnonzero(self.neurons.s),
            pre_age=self.ages,
            post_age=self.ages[self.p.n_input :],
            mask=self.conn.mask,
            lo=self.conn.lo,
            hi=self.conn.hi,
            ltp=self.ltp,
            ltd=self.ltd,
            polarity=self.cfg.stdp.polarity,
        )

    def sleep_step(self) -> bool:
        """Run one sleep step; return whether a decay batch ran."""
        noise, self.noise_regs = noise_step(self.noise_regs, self.cfg.sleep)
        self.step(self.zero_x, noise)
        self.episode_step += 1
        if self.episode_step % self.cfg.sleep.decay_period:
            return False
        flat = self.m.reshape(-1)
        flat[self.syn], self.decay_reg = decay_step(
            flat[self.syn],
            target=self.syn_target,
            lo=self.syn_lo,
            hi=self.syn_hi,
            register=self.decay_reg,
            p=self.cfg.sleep,
        )
        return True


class _SynapseRunner(_Runner):
    """:class:`_Runner` on the vector of existing synapses (row-major), for the block drivers.

    Same arithmetic as :meth:`_Runner.step`, restricted to existing synapses: the drive sums the
    synapse lists of the spiking rows, STDP adds the column gains and then the row gains to the
    synapse lists of the spiking columns and rows and clips those entries. The dense version
    also touches absent synapses of those rows and columns (zero gain, bounds 0), which changes
    nothing while they are zero; :meth:`usable` checks that, otherwise the drivers fall back to
    :class:`_Runner`.
    """

    def __init__(self, state: NetState, conn: Connectivity, cfg: NetConfig) -> None:
        super().__init__(state, conn, cfg)
        p = self.p
        self.syn_pre, self.syn_post = np.divmod(self.syn, p.n_post)
        self.ms = self.m.reshape(-1)[self.syn].copy()
        self.syn_sign = p.sign()[self.syn_pre].astype(np.float64)
        # Synapse indices of every row (presynaptic neuron) and column (postsynaptic neuron).
        cuts = np.searchsorted(self.syn_pre, np.arange(p.n_pre + 1))
        self.rows = [np.arange(a, b) for a, b in itertools.pairwise(cuts)]
        by_post = np.argsort(self.syn_post, kind="stable")
        cuts = np.searchsorted(self.syn_post[by_post], np.arange(p.n_post + 1))
        self.cols = [by_post[a:b] for a, b in itertools.pairwise(cuts)]
        self.empty = np.zeros(0, dtype=np.int64)
        self.causal = cfg.stdp.polarity is StdpPolarity.CAUSAL

    def _gather(self, table: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
        if idx.size == 0:
            return self.empty
        return np.concatenate([table[i] for i in idx.tolist()])

    @staticmethod
    def usable(state: NetState, conn: Connectivity) -> bool:
        """Whether every absent synapse has magnitude zero."""
        return not np.any(state.m[conn.mask == 0])

    def state(self) -> NetState:
        self.m.reshape(-1)[self.syn] = self.ms
        return super().state()

    def step(self, x: np.ndarray, noise: np.ndarray | int) -> None:
        p = self.p
        rows = self._gather(self.rows, np.flatnonzero(np.concatenate([x, self.neurons.s])))
        # float64 sums of integers below 2**53 are exact.
        d = np.bincount(
            self.syn_post[rows], weights=self.ms[rows] * self.syn_sign[rows], minlength=p.n_post
        ).astype(np.int64)
        self.neurons = neuron_step(self.neurons, d, noise, p)
        spk = np.concatenate([x, self.neurons.s])
        self.ages = age_step(self.ages, spk, self.cfg.stdp)
        post_idx = np.flatnonzero(self.neurons.s)
        pre_idx = np.flatnonzero(spk)
        if pre_idx.size == 0:
            return
        post_age = self.ages[p.n_input :]
        if self.causal:
            post_gain, pre_gain = self.ltp[self.ages], -self.ltd[post_age]
        else:
            post_gain, pre_gain = -self.ltd[self.ages], self.ltp[post_age]
        cols = self._gather(self.cols, post_idx)
        rows = self._gather(self.rows, pre_idx)
        ms = self.ms
        ms[cols] += post_gain[self.syn_pre[cols]]
        ms[rows] += pre_gain[self.syn_post[rows]]
        ms[cols] = np.clip(ms[cols], self.syn_lo[cols], self.syn_hi[cols])
        ms[rows] = np.clip(ms[rows], self.syn_lo[rows], self.syn_hi[rows])

    def sleep_step(self) -> bool:
        noise, self.noise_regs = noise_step(self.noise_regs, self.cfg.sleep)
        self.step(self.zero_x, noise)
        self.episode_step += 1
        if self.episode_step % self.cfg.sleep.decay_period:
            return False
        self.ms[:], self.decay_reg = decay_step(
            self.ms,
            target=self.syn_target,
            lo=self.syn_lo,
            hi=self.syn_hi,
            register=self.decay_reg,
            p=self.cfg.sleep,
        )
        return True

    def sums(self) -> np.ndarray:
        # float64 sums of integers below 2**53 are exact.
        s = np.bincount(self.syn_group, weights=self.ms, minlength=len(SynapseGroup))
        return s.astype(np.int64)


def _block_runner(state: NetState, conn: Connectivity, cfg: NetConfig) -> _Runner:
    if _SynapseRunner.usable(state, conn):
        return _SynapseRunner(state, conn, cfg)
    return _Runner(state, conn, cfg)


def wake_step(
    state: NetState, pixels: np.ndarray, *, conn: Connectivity, cfg: NetConfig
) -> NetState:
    """Advance one wake step on an image ``pixels`` (``(n_input,)``, 0..255); see module doc."""
    run = _Runner(state, conn, cfg)
    x, run.input_regs = rate_encode(pixels, run.input_regs, steps=1)
    run.step(x[0], 0)
    return run.state()


def sleep_step(state: NetState, *, conn: Connectivity, cfg: NetConfig) -> NetState:
    """Advance one sleep step (noise, no input, STDP, decay every ``decay_period`` steps)."""
    run = _Runner(state, conn, cfg)
    run.sleep_step()
    return run.state()


def run_wake_block(
    state: NetState,
    images: np.ndarray,
    *,
    conn: Connectivity,
    cfg: NetConfig,
    record_membranes: bool = False,
    sums_every: int = 0,
) -> tuple[NetState, WakeRecord]:
    """Present ``images`` one after the other, ``steps_per_image`` wake steps each.

    The neuron state carries over from image to image (no reset), as in the authors' code.
    Equal to calling :func:`wake_step` for every step.

    Parameters
    ----------
    images : np.ndarray
        ``(n_images, n_input)`` intensities 0..255.
    record_membranes : bool
        Also return the membranes after every step.
    sums_every : int
        If positive, record :func:`synapse_sums` after every ``sums_every`` images.

    Returns
    -------
    state : NetState
        State after the block.
    record : WakeRecord
        Spikes ``(n_images * steps_per_image, n_post)``, membranes or ``None``, and the
        recorded sums ``(k, n_groups)``.
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != cfg.neuron.n_input:
        raise ValueError(f"images must have shape (n, {cfg.neuron.n_input}), not {images.shape!r}")
    run = _block_runner(state, conn, cfg)
    t_img = cfg.steps_per_image
    n_steps = images.shape[0] * t_img
    spikes = np.zeros((n_steps, cfg.neuron.n_post), dtype=bool)
    membranes = np.zeros((n_steps, cfg.neuron.n_post), dtype=np.int64) if record_membranes else None
    sums = []
    for k, img in enumerate(images):
        xs, run.input_regs = rate_encode(img, run.input_regs, steps=t_img)
        for t in range(t_img):
            run.step(xs[t], 0)
            spikes[k * t_img + t] = run.neurons.s
            if membranes is not None:
                membranes[k * t_img + t] = run.neurons.v
        if sums_every > 0 and (k + 1) % sums_every == 0:
            sums.append(run.sums())
    sums_arr = np.array(sums, dtype=np.int64).reshape(-1, len(SynapseGroup))
    return run.state(), WakeRecord(spikes, membranes, sums_arr)


def run_sleep_episode(
    state: NetState, *, conn: Connectivity, cfg: NetConfig, budget: int
) -> tuple[NetState, SleepRecord]:
    """Sleep until the group sums are back at their initial values or ``budget`` steps pass.

    The stop test (``sim.sleep.sums_at_baseline``, baseline = sums of ``conn.init``) runs after
    every decay batch; ``episode_step`` restarts at 0. ``budget`` should come from
    :func:`sleep_budget` (a multiple of ``decay_period``).

    Raises
    ------
    ValueError
        If ``budget`` is negative or not a multiple of ``decay_period``.
    """
    k = cfg.sleep.decay_period
    if budget < 0 or budget % k:
        raise ValueError(f"budget must be a non-negative multiple of {k}, not {budget!r}")
    run = _block_runner(replace(state, episode_step=0), conn, cfg)
    baseline = synapse_sums(conn.init, conn)
    spikes = np.zeros((budget, cfg.neuron.n_post), dtype=bool)
    sums = []
    stopped = False
    n = 0
    while n < budget:
        batch = run.sleep_step()
        spikes[n] = run.neurons.s
        n += 1
        if batch:
            s = run.sums()
            sums.append(s)
            if sums_at_baseline(s, baseline, cfg.sleep):
                stopped = n < budget
                break
    sums_arr = np.array(sums, dtype=np.int64).reshape(-1, len(SynapseGroup))
    return run.state(), SleepRecord(n, budget, stopped, spikes[:n], sums_arr)


def evaluate_counts(
    m: np.ndarray,
    images: np.ndarray,
    *,
    cfg: NetConfig,
    seed: int,
    batch: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Count spikes per image with plasticity frozen (the readout's features).

    Every image starts from the rest state and runs ``steps_per_image`` wake steps without
    STDP, noise or decay; all images of a batch run side by side. Image ``b``'s input
    registers are row ``b`` of ``default_rng([seed, 2]).integers(1, 2**24, (n, n_input))``.
    The drive is ``sim.ops.exact_matmul`` (exact integers).

    Returns
    -------
    neuron_counts : np.ndarray
        ``int64`` ``(n_images, n_post)`` spike counts (excitatory first).
    input_counts : np.ndarray
        ``int64`` ``(n_images, n_input)`` input spike counts.
    """
    p = cfg.neuron
    images = np.asarray(images, dtype=np.int64)
    regs_all = np.random.default_rng([seed, 2]).integers(
        1, 1 << 24, size=images.shape, dtype=np.int64
    )
    w = (np.asarray(m, dtype=np.int64) * p.sign()[:, None]).T  # (n_post, n_pre)
    bound = int(np.abs(w).sum(axis=1).max()) if w.size else 0
    n_counts = np.zeros((images.shape[0], p.n_post), dtype=np.int64)
    x_counts = np.zeros((images.shape[0], p.n_input), dtype=np.int64)
    for lo in range(0, images.shape[0], batch):
        img = images[lo : lo + batch]
        xs, _ = rate_encode(img, regs_all[lo : lo + batch], steps=cfg.steps_per_image)
        st = NeuronState.zeros((img.shape[0], p.n_post))
        for t in range(cfg.steps_per_image):
            pre = np.concatenate([xs[t], st.s], axis=1)
            st = neuron_step(st, exact_matmul(pre, w, bound=bound), 0, p)
            n_counts[lo : lo + batch] += st.s
        x_counts[lo : lo + batch] = xs.sum(axis=0)
    return n_counts, x_counts
