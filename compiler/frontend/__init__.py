"""Frontends: from a trained model to a float-stage IR graph (``frontend.torch``)."""

__all__: list[str] = []
