"""The shared mismatch record and tally of spikesmith.verification.report."""

from __future__ import annotations

from spikesmith.verification.report import Comparison, Mismatch, Tally


def test_mismatch_renders_coordinates_quantity_and_values():
    m = Mismatch(where=(("sample", 3), ("timestep", 2), ("layer", "1 (fc1)"), ("neuron", 4)),
                 quantity="membrane", expected=17, actual=-16)
    assert str(m) == ("sample 3, timestep 2, layer 1 (fc1), neuron 4: membrane expected 17,"
                      " actual -16")
    assert (m.position("timestep"), m.position("synapse")) == (2, None)
    count = Mismatch(where=(), quantity="status records", expected=4, actual=3)
    assert str(count) == "status records expected 4, actual 3"
    noted = Mismatch(where=(("LFSR register", 1),), quantity="", expected=5, actual=6,
                     note=" (index 2)")
    assert str(noted) == "LFSR register 1: expected 5, actual 6 (index 2)"


def test_tally_counts_and_keeps_the_first_by_key_then_by_arrival():
    tally = Tally()
    assert (tally.count, tally.first) == (0, None)
    late = Mismatch(where=(("sample", 5),), quantity="spike", expected=1, actual=0)
    early = Mismatch(where=(("sample", 1),), quantity="spike", expected=0, actual=1)
    tally.add(late, count=3, key=(5,))
    tally.add(early, count=2, key=(1,))
    tally.add(late, count=0, key=(0,))  # nothing differed: not recorded
    assert (tally.count, tally.first) == (5, early)
    by_arrival = Tally()
    by_arrival.add(early)
    by_arrival.add(late)
    assert by_arrival.first is early
    result = Comparison.of(tally)
    assert (result.mismatches, result.ok, result.first_mismatch) == (5, False, str(early))
    assert Comparison.of(Tally()).ok and Comparison.of(Tally()).first_mismatch is None
