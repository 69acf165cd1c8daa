"""Host-side readout of an unsupervised spiking population: a linear probe and a clustering index.

Ref: Massey et al., arXiv 2601.08447, ``src/evaluation/classifiers.py`` (``pca_lr``) and the
"phi" clustering index (``reference/algorithms.md`` §3.1, §3.2b). As §3.2b recommends, the
features are per-image spike counts (not the authors' per-millisecond bins).

:func:`pca_lr_accuracy`
    ``StandardScaler`` → ``PCA(n_components=0.95)`` (keeps 95 % of the variance) →
    ``LogisticRegression`` fitted on the training counts; returns test accuracy.
:func:`clustering_index`
    ``phi = tr(S_B) / tr(S_W)``: between-class scatter ``S_B = sum_c n_c |mu_c - mu|**2``
    over within-class scatter ``S_W = sum_c sum_{x in c} |x - mu_c|**2``; larger is better
    separated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clustering_index", "pca_lr_accuracy"]


def _check(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{what} features must be (n, features) with n labels, not {x.shape!r} and {y.shape!r}"
        )
    return x, y


def pca_lr_accuracy(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    variance: float = 0.95,
    seed: int = 0,
    max_iter: int = 2000,
) -> float:
    """Fit scaler + PCA (``variance`` kept) + logistic regression; return test accuracy.

    Raises
    ------
    ValueError
        If shapes disagree or ``variance`` is not in ``(0, 1)``.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0.0 < variance < 1.0:
        raise ValueError(f"variance must be in (0, 1), not {variance!r}")
    xtr, ytr = _check(x_train, y_train, "training")
    xte, yte = _check(x_test, y_test, "test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"training and test features must have the same width, not {xtr.shape[1]} and "
            f"{xte.shape[1]}"
        )
    keep = xtr.std(axis=0) > 0
    if not keep.any():
        return float(np.mean(yte == np.bincount(ytr).argmax()))
    model = make_pipeline(
        StandardScaler(),
        PCA(n_components=variance, svd_solver="full", random_state=seed),
        LogisticRegression(max_iter=max_iter, random_state=seed),
    )
    model.fit(xtr[:, keep], ytr)
    return float(np.mean(model.predict(xte[:, keep]) == yte))


def clustering_index(x: np.ndarray, y: np.ndarray) -> float:
    """Return ``phi = tr(S_B) / tr(S_W)`` (module docstring); ``inf`` if ``S_W = 0``."""
    x, y = _check(x, y, "clustering")
    mu = x.mean(axis=0)
    s_b = 0.0
    s_w = 0.0
    for c in np.unique(y):
        xc = x[y == c]
        mc = xc.mean(axis=0)
        s_b += xc.shape[0] * float(np.sum((mc - mu) ** 2))
        s_w += float(np.sum((xc - mc) ** 2))
    return float("inf") if s_w == 0.0 else s_b / s_w
