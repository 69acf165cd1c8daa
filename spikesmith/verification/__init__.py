"""Bit-exact verification of every core against the golden model, in one shape.

Each core has a host model (``hw/<core>/host.py``: conversions between ``sim`` values and the
core's stream words), a Verilator harness (``hw/<core>/harness.py``: harness Verilog, build,
run, raw records) and here its comparison, which runs the golden model and the harness,
compares by ``==`` and reports through the one :class:`~.report.Comparison` /
:class:`~.report.Mismatch` of :mod:`.report`:

* :mod:`.lif`: generated LIF networks (``verify_network``, ``compare``);
* :mod:`.ncg`: the NCG learning core in lockstep training (``run_lockstep``);
* :mod:`.recurrent`: the recurrent STDP / sleep core (``golden_trace``, ``compare``).
"""
