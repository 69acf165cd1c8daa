"""Bit-accurate integer golden model: the single source of truth for arithmetic.

Depends on NumPy only. See ``docs/numerics.md`` for the contract.
"""
