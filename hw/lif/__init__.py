"""The LIF inference path: the LIF core and its configuration, the network of cores, Verilog
generation and the analytic estimates.
"""
