"""Float NCG reference: the official code's behaviours (reference/algorithms.md §1.8b)."""

import numpy as np
import pytest

from spikesmith.sim import ncg_reference as ref
from spikesmith.sim.ncg_types import (
    ClassMap,
    Method,
    NCGConfig,
    Rates,
    Regulation,
    first_winner,
    group_winners,
    schedule_rates,
    spike_order,
)

T = ref.T_MAX


def f32(*xs):
    return np.array(xs, dtype=np.float32)


def cfg(**kw):
    base = dict(n_inputs=4, class_map=ClassMap(2, 2, 1), threshold=1.0, t_gap=0.1)
    base.update(kw)
    return NCGConfig(**base)


# --- coding and forward pass -------------------------------------------------------------

def test_latency_times_zero_pixel_never_spikes():
    t = ref.latency_times(np.array([0, 255, 51]))
    assert t.tolist() == [1.0, 0.0, pytest.approx(0.8)]
    assert t.dtype == np.float32


def test_forward_integrates_whole_timestamp_group_before_checking():
    # two spikes at 0.2 (0.6 each) cross only together; a later spike triggers the check.
    w = f32(0.6, 0.6, 0.5)[None]
    t, v = ref.forward(w, f32(1.0), f32(0.2, 0.2, 0.5))
    assert t.tolist() == [pytest.approx(0.2)]
    assert v.tolist() == [pytest.approx(1.2)]  # stopped integrating after firing


def test_forward_last_input_spike_never_fires_the_neuron():
    w = f32(0.5, 0.6)[None]
    t, v = ref.forward(w, f32(1.0), f32(0.1, 0.3))
    assert t.tolist() == [1.0]
    assert v.tolist() == [pytest.approx(1.1)]  # V includes the last spike
    # also when the last spike shares the timestamp of the previous ones
    t, v = ref.forward(w, f32(1.0), f32(0.1, 0.1))
    assert t.tolist() == [1.0]


def test_forward_threshold_is_strict_and_silent_inputs_do_not_integrate():
    w = f32(0.5, 0.5, 9.0, 0.1)[None]
    t, v = ref.forward(w, f32(1.0), f32(0.1, 0.1, T, 0.9))
    assert t.tolist() == [1.0]  # V == θ does not fire
    assert v.tolist() == [pytest.approx(1.1)]


def test_forward_dropped_neuron_is_silent_with_zero_potential():
    w = np.full((2, 3), 0.9, dtype=np.float32)
    t, v = ref.forward(w, f32(1.0, 1.0), f32(0.1, 0.2, 0.3), active=np.array([True, False]))
    assert t.tolist() == [pytest.approx(0.2), 1.0]
    assert v.tolist() == [pytest.approx(1.8), 0.0]


# --- decision rules ----------------------------------------------------------------------

def test_spike_order_earliest_then_larger_potential_then_lower_index():
    t = f32(0.5, 0.2, 0.2, 0.2, T)
    v = f32(9.0, 1.0, 3.0, 3.0, 99.0)
    assert spike_order(t, v).tolist() == [2, 3, 1, 0, 4]
    assert first_winner(t, v) == 2


def test_no_output_spike_winner_is_largest_potential():
    assert first_winner(f32(T, T, T), f32(0.4, 0.9, 0.1)) == 1


def test_group_winners_include_non_target_neurons():
    t = f32(0.1, 0.3, T, T)
    v = f32(1, 1, 0.2, 0.7)
    assert group_winners(t, v, 2).tolist() == [0, 3]


def test_class_map_labels_first_neurons_of_each_group_non_target():
    cm = ClassMap(2, 5, 1)
    assert cm.is_target.tolist() == [False] + [True] * 4 + [False] + [True] * 4
    assert cm.classes.tolist() == [0] * 5 + [1] * 5
    assert cm.target_neurons(1).tolist() == [6, 7, 8, 9]


def test_inference_does_not_exclude_non_target_neurons():
    c = cfg()
    st = ref.init_state(c, seed=0)
    w = np.zeros((4, 4), dtype=np.float32)
    w[2] = 0.9  # non-target neuron of class 1 fires first
    w[1] = 0.4
    st = ref.ReferenceState(w, st.thresholds, st.thresholds_train, st.norm_target, st.rates)
    assert ref.infer(st, f32(0.1, 0.2, 0.3, 0.4)[None], config=c).tolist() == [1]


# --- S2-STDP / SSTDP errors --------------------------------------------------------------

def test_gaps_from_one_t_gap():
    c = NCGConfig(n_inputs=4, class_map=ClassMap(10, 5, 1), threshold=1.0, t_gap=0.03)
    assert c.gaps == (pytest.approx(0.027), pytest.approx(0.003))
    c1 = NCGConfig(n_inputs=4, class_map=ClassMap(10, 5, 1), threshold=1.0, t_gap=0.03,
                   class_wta=False)
    assert c1.gaps == (pytest.approx(0.03 * 45 / 50), pytest.approx(0.03 * 5 / 50))


def test_s2stdp_targets_around_mean_of_updated_neurons():
    # classes of 2 (non-target, target); G = 0.1, n_upd = 2 -> g_t = g_nt = 0.05.
    t = f32(0.2, 0.4, 0.5, T)
    v = f32(2, 2, 2, 0.5)
    e = ref.s2stdp_errors(t, v, 0, config=cfg())
    # winners 0 (non-target, class 0) and 2; t_base = mean(0.2, 0.5) = 0.35
    assert e.tolist() == pytest.approx([0.2 - 0.40, 0.0, 0.5 - 0.40, 0.0], abs=1e-6)


def test_target_winner_pushed_earlier_and_t_base_capped():
    t = f32(T, 0.96, T, T)
    v = f32(0, 2, 0.3, 0.1)
    e = ref.s2stdp_errors(t, v, 0, config=cfg())
    # t_base = min(0.96, 1 - 0.05) = 0.95; target T* = 0.90; class 1 winner (V 0.3) T* = 1.0
    assert e.tolist() == pytest.approx([0.0, 0.06, 0.0, 0.0], abs=1e-6)


def test_silent_non_target_winner_pushed_earlier_when_others_fired():
    t = f32(T, 0.3, T, T)
    v = f32(0, 2, 0.1, 0.3)
    e = ref.s2stdp_errors(t, v, 0, config=cfg())
    # t_base = 0.3: class 1 winner (neuron 3) has T* = 0.35 and t = 1 -> e = 0.65 > 0
    assert e[3] == pytest.approx(0.65)
    assert e[1] == pytest.approx(0.3 - 0.25)


def test_nothing_fired_non_target_error_is_zero_and_skipped():
    c = cfg()
    t = f32(T, T, T, T)
    v = f32(0.1, 0.2, 0.3, 0.05)
    e = ref.s2stdp_errors(t, v, 0, config=c)
    assert e.tolist() == pytest.approx([0, 0.1, 0, 0], abs=1e-6)
    w, upd = ref.stdp_update(np.zeros((4, 4), np.float32), f32(0.1, T, T, T), t, e,
                             rates=Rates(0.5, -0.5, -0.5, 0.5, 0))
    assert upd.tolist() == [1]
    assert w[[0, 2, 3]].tolist() == [[0.0] * 4] * 3


def test_sstdp_uses_time_ranges():
    c = cfg(method=Method.SSTDP)
    v = f32(1, 1, 1, 1)
    # winners 1 (target, class 0) and 2; t_base = 0.25: both already far enough -> no update
    e = ref.s2stdp_errors(f32(0.9, 0.1, 0.4, 0.6), v, 0, config=c)
    assert e.tolist() == [0.0, 0.0, 0.0, 0.0]
    # t_base = 0.11: target must reach 0.06, the other must be later than 0.16
    e = ref.s2stdp_errors(f32(0.9, 0.1, 0.12, 0.6), v, 0, config=c)
    assert e.tolist() == pytest.approx([0, 0.04, -0.04, 0], abs=1e-6)


def test_stdp_update_causality_and_silent_inputs():
    w = np.zeros((2, 4), dtype=np.float32)
    t_in = f32(0.1, 0.5, T, 0.3)
    t_out = f32(0.3, T)
    e = f32(0.5, -0.25)
    r = Rates(0.2, -0.4, -0.2, 0.4, 0)
    w2, upd = ref.stdp_update(w, t_in, t_out, e, rates=r)
    # fired neuron: t_i <= 0.3 causal (+0.1); later and silent inputs get e A- (-0.2)
    assert w2[0].tolist() == pytest.approx([0.1, -0.2, -0.2, 0.1])
    # non-fired neuron, negative error: every input causal, anti A+ -> 0.25 * -0.2
    assert w2[1].tolist() == pytest.approx([-0.05] * 4)
    assert upd.tolist() == [0, 1]


def test_train_step_clips_then_normalises_without_reclip():
    c = cfg(a_plus=2.0, a_minus=-0.0, threshold=0.5)
    st = ref.init_state(c, seed=3)
    st2, tr = ref.train_step(st, f32(0.0, 0.0, 0.0, 0.5), 1, config=c)
    assert tr.updated.size > 0
    sums = np.abs(st2.weights).sum(axis=1)
    assert sums == pytest.approx(st.norm_target, rel=1e-5)


def test_init_norm_target_is_taken_before_clip():
    c = cfg(w_init_mean=0.0, w_init_std=0.5)
    st = ref.init_state(c, seed=0)
    w = np.random.default_rng(0).normal(0.0, 0.5, size=(4, 4)).astype(np.float32)
    assert st.norm_target == pytest.approx(np.abs(w).sum(axis=1))
    assert st.weights.min() >= 0.0


# --- competition regulation --------------------------------------------------------------

def ncg_cfg(**kw):
    base = dict(n_inputs=3, class_map=ClassMap(2, 5, 1), threshold=2.0, thr_lr=4.0)
    base.update(kw)
    return NCGConfig(**base)


def test_cr2_winner_among_targets_gets_three_quarters():
    c = ncg_cfg()
    thr = np.full(10, 3.0, dtype=np.float32)
    t = f32(0.1, 0.5, 0.3, T, T, *[T] * 5)  # non-target neuron 0 fires first: not a CR winner
    v = np.ones(10, dtype=np.float32)
    out = ref.regulate(thr, t, v, 0, config=c, thr_lr=4.0, thr_min=2.0)
    assert out.tolist() == pytest.approx([3, 2, 6, 2, 2, 3, 3, 3, 3, 3])


def test_cr2_runs_when_nothing_fired_and_clips_at_test_threshold():
    c = ncg_cfg()
    thr = np.full(10, 2.0, dtype=np.float32)
    v = f32(0, 0.1, 0.2, 0.9, 0.3, 0, 0, 0, 0, 0)
    out = ref.regulate(thr, np.full(10, T), v, 0, config=c, thr_lr=4.0, thr_min=2.0)
    assert out.tolist() == pytest.approx([2, 2, 2, 5, 2, 2, 2, 2, 2, 2])


def test_cr1_does_not_clip():
    c = ncg_cfg(regulation=Regulation.CR1)
    thr = np.full(10, 2.0, dtype=np.float32)
    v = f32(0, 0.1, 0.2, 0.9, 0.3, 0, 0, 0, 0, 0)
    out = ref.regulate(thr, np.full(10, T), v, 0, config=c, thr_lr=4.0, thr_min=2.0)
    assert out[1] == pytest.approx(1.0)


def test_cr2_adaptive_thresholds_only_for_target_neurons_of_label():
    c = ncg_cfg()
    st = ref.init_state(c, seed=0)
    st = ref.ReferenceState(st.weights, st.thresholds, np.arange(10, dtype=np.float32) + 5,
                            st.norm_target, st.rates)
    thr = ref.training_thresholds(st, 1, config=c)
    assert thr.tolist() == [2.0] * 6 + [11.0, 12.0, 13.0, 14.0]


def test_cr2_resets_at_epoch_start_and_cr1_copies_at_epoch_end():
    c2 = ncg_cfg()
    st = ref.init_state(c2, seed=0)
    st = ref.ReferenceState(st.weights, st.thresholds, st.thresholds + 7, st.norm_target,
                            st.rates)
    assert ref.start_epoch(st, config=c2).thresholds_train.tolist() == [2.0] * 10
    c1 = ncg_cfg(regulation=Regulation.CR1)
    end = ref.end_epoch(st, 0.5, config=c1)
    assert end.thresholds.tolist() == [9.0] * 10
    assert end.epoch == 1


# --- host schedule -----------------------------------------------------------------------

def test_annealing_of_rates_and_eta():
    c = ncg_cfg(thr_lr=10.0, thr_anneal=0.5, a_plus=0.05, a_minus=-0.1)
    r = schedule_rates(c, epoch=2, last_accuracy=0.9)
    assert (r.a_plus, r.a_minus) == (pytest.approx(0.05 * 0.98**2), pytest.approx(-0.1 * 0.98**2))
    assert (r.anti_a_plus, r.anti_a_minus) == (pytest.approx(-0.05 * 0.98**2),
                                               pytest.approx(0.1 * 0.98**2))
    assert [schedule_rates(c, epoch=e, last_accuracy=None).thr_lr for e in range(3)] == [
        10.0, 5.0, 2.5]


def test_rstdp_rates_modulated_by_last_accuracy():
    c = ncg_cfg(method=Method.RSTDP, a_plus=0.05, a_minus=-0.001, anti_a_plus=-0.05,
                anti_a_minus=0.001, regulation=Regulation.NONE)
    r0 = schedule_rates(c, epoch=0, last_accuracy=None)
    assert (r0.a_plus, r0.anti_a_plus) == (pytest.approx(0.05 * 0.5), pytest.approx(-0.05 * 0.5))
    r1 = schedule_rates(c, epoch=1, last_accuracy=0.8)
    assert r1.a_plus == pytest.approx(0.05 * 0.98 * 0.2)
    assert r1.anti_a_minus == pytest.approx(0.001 * 0.98 * 0.8)


def test_rstdp_updates_only_the_global_winner():
    c = ncg_cfg(method=Method.RSTDP, regulation=Regulation.NONE, threshold=0.5,
                w_norm=False)
    st = ref.init_state(c, seed=1)
    st2, tr = ref.train_step(st, f32(0.1, 0.2, 0.3), 1, config=c)
    win = first_winner(tr.times, tr.potentials)
    assert tr.updated.tolist() == [win]
    changed = np.flatnonzero((st2.weights != st.weights).any(axis=1))
    assert changed.tolist() == [win]


def test_train_epoch_is_deterministic_with_dropout():
    c = ncg_cfg(regulation=Regulation.DROPOUT, dropout=0.3, threshold=0.5)
    rng = np.random.default_rng(0)
    x = rng.random((12, 3)).astype(np.float32)
    y = rng.integers(0, 2, 12)
    a, acc_a = ref.train_epoch(ref.init_state(c, seed=0), x, y, config=c, seed=5)
    b, acc_b = ref.train_epoch(ref.init_state(c, seed=0), x, y, config=c, seed=5)
    assert np.array_equal(a.weights, b.weights)
    assert acc_a == acc_b


# --- errors ------------------------------------------------------------------------------

def test_config_errors_name_the_value():
    with pytest.raises(ValueError, match="n_nontarget must be an integer in 0..neurons_per_class"
                       r"-1, not 2"):
        ClassMap(10, 2, 2)
    with pytest.raises(ValueError, match="threshold must be > 0, not -1"):
        cfg(threshold=-1)
    with pytest.raises(ValueError, match="regulation DROPOUT needs dropout > 0, not 0"):
        cfg(regulation=Regulation.DROPOUT)
    with pytest.raises(TypeError, match="method must be a Method, not 's2stdp'"):
        cfg(method="s2stdp")
    with pytest.raises(ValueError, match="epoch must be >= 0, not -1"):
        schedule_rates(cfg(), epoch=-1, last_accuracy=None)
