"""The recurrent STDP core with sleep mode: STDP, noise and decay units, stream layouts, run-time
parameters and host side.
"""
