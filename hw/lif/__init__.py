"""The LIF inference path: the LIF core, the network of cores, Verilog generation and the analytic
estimates.
"""
