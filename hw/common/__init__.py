"""Shared hardware infrastructure: stream layouts, simulation helpers, synthesis and
place-and-route, the Fmax harness, the Verilator harness and memory attributes.
"""
