"""Compiler: lowers a trained spiking network to a fixed-point dataflow IR.

``ir`` (ops, nodes, graphs), ``verify`` (the rule table), ``render`` (text form), ``irfile``
(atomic file I/O), ``frontend.torch`` (from ``spikesmith.model``), ``passes`` (one module per
pass), ``pipeline`` (the ordered pass list), ``lowering`` (to ``sim`` and ``hw`` records),
and ``driver`` (``compile_model``). The lowering emits the core configurations that the cores
own (``hw.lif.config``). Import from those modules; this package imports nothing itself, so
loading one of them does not load torch.
"""

__all__: list[str] = []
