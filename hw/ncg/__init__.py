"""The NCG learning core (S2-STDP with Neuronal Competition Groups), its divider, stream layouts
and host side.
"""
