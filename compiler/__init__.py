"""Compiler: lowers a trained spiking network to a fixed-point dataflow IR.

``ir`` (ops, nodes, graphs), ``verify`` (the rule table), ``render`` (text form), ``irfile``
(atomic file I/O), ``frontend.torch`` (from ``spikesmith.model``), ``passes`` (one module per
pass), ``pipeline`` (the ordered pass list), ``lowering`` (to ``sim`` and ``hw`` records),
``driver`` (``compile_model``) and ``cores`` (the core configurations ``hw/`` elaborates).
Import from those modules; this package imports nothing itself, so ``hw/`` can read
``compiler.cores`` without loading torch.
"""

__all__: list[str] = []
