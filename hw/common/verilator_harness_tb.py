"""cocotb test of the free-running harness (:mod:`spikesmith.hw.common.verilator_harness`).

The harness generates its own clock and moves data through files, so this coroutine only
waits for ``done``; the comparison with the golden model happens in the launching process.
"""

from __future__ import annotations

import cocotb

__all__ = ["harness_runs_to_done"]

if cocotb.simulator.is_running():
    from cocotb.triggers import RisingEdge

    @cocotb.test()
    async def harness_runs_to_done(dut) -> None:
        """Wait until the harness has consumed the stimulus and written every sample."""
        if not int(dut.done.value):
            await RisingEdge(dut.done)
        assert int(dut.timed_out.value) == 0, (
            f"harness gave up after {int(dut.cycles.value)} cycles with"
            f" {int(dut.seen.value)} of {int(dut.n_samples.value)} samples complete"
        )
else:
    harness_runs_to_done = None
