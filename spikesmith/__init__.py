"""spikesmith: spiking neural networks from PyTorch training to bit-exact FPGA gateware."""

__all__ = ["__version__"]

__version__ = "0.1.0"
