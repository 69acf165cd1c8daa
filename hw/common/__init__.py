"""Shared hardware infrastructure: stream layouts, simulation helpers, synthesis (``synth``),
place-and-route, part capacities and Fmax measurement (``fpga``), the Fmax harness, the
Verilator harness and memory attributes.
"""
