"""Cross-validated PLS from a layer's features (one response bin) to a region's neurons.

- Regression: scikit-learn's ``PLSRegression`` with ``n_components = min(components,
  n_features, n_train - 1)`` and ``scale=False`` (Brain-Score's setting: features are centred on
  the training images only, by the PLS itself). All neurons of a region are fit jointly (the
  components are shared, as Brain-Score fits one region's assembly).
- Folds: K-fold over images, shuffled with ``settings.seed``. With ``labels`` (the object of
  each image), folds are *stratified* by label, so every fold holds out images of every object
  in proportion: Brain-Score's split for neural predictivity (stratified by object name) and
  the issue's wording. A grouped split (hold out whole objects) would instead measure transfer
  to unseen objects, a different question; it is not used. When some label has fewer images
  than folds, stratification is impossible and plain K-fold is used (``split_kind`` says so).
- Score: every image is predicted once, by the fold that held it out; Pearson r per neuron over
  all N held-out predictions; the median over the region's neurons. A constant prediction (no
  feature varies over the training images) has r = 0, not NaN.
"""

from __future__ import annotations

import warnings

import numpy as np

from space.neural import NeuralFitSettings
from workers.neural.ceiling import pearson_columns

Split = tuple[np.ndarray, np.ndarray]


def split_kind(labels: np.ndarray | None, folds: int) -> str:
    """``stratified`` when ``labels`` allow it, else ``kfold``."""
    if labels is None:
        return "kfold"
    _, counts = np.unique(labels, return_counts=True)
    return "stratified" if len(counts) > 1 and counts.min() >= folds else "kfold"


def fold_splits(n: int, labels: np.ndarray | None, folds: int, seed: int) -> list[Split]:
    """``(train, test)`` index arrays of the ``folds`` folds (test sets partition 0..n-1)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    x = np.zeros((n, 1))
    if split_kind(labels, folds) == "stratified":
        strat = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in strat.split(x, labels)]
    plain = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in plain.split(x)]


def _pls_predict(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, k: int
) -> np.ndarray:
    from sklearn.cross_decomposition import PLSRegression

    y_mean = y_train.mean(axis=0)
    if float(x_train.var(axis=0).max(initial=0.0)) < 1e-20:
        return np.broadcast_to(y_mean, (len(x_test), y_train.shape[1])).copy()
    pls = PLSRegression(n_components=k, scale=False)
    with warnings.catch_warnings():
        # components beyond the features' rank: sklearn warns and the extra ones are zero
        warnings.simplefilter("ignore")
        pls.fit(x_train, y_train)
        pred = np.asarray(pls.predict(x_test), dtype=np.float64).reshape(len(x_test), -1)
    bad = ~np.isfinite(pred)
    if bad.any():
        pred[bad] = np.broadcast_to(y_mean, pred.shape)[bad]
    return pred


def held_out_predictions(
    x: np.ndarray, y: np.ndarray, splits: list[Split], components: int
) -> np.ndarray:
    """``[N, neurons]``: each image's responses predicted by the PLS fit on the other folds
    (the PLS sees only the training rows of ``x`` and ``y``)."""
    pred = np.zeros_like(y, dtype=np.float64)
    for train, test in splits:
        k = max(1, min(components, x.shape[1], len(train) - 1))
        pred[test] = _pls_predict(x[train], y[train], x[test], k)
    return pred


def fit_scores(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray | None, settings: NeuralFitSettings
) -> np.ndarray:
    """Held-out Pearson r per neuron ``[neurons]`` of features ``x`` ``[N, F]`` for responses
    ``y`` ``[N, neurons]``."""
    if float(x.var(axis=0).max(initial=0.0)) < 1e-20:
        # no feature varies over the images (a layer the image has not reached yet): no fit.
        # (Per-fold mean predictions would correlate negatively with the held-out responses.)
        return np.zeros(y.shape[1])
    splits = fold_splits(len(x), labels, settings.folds, settings.seed)
    pred = held_out_predictions(x, y, splits, settings.components)
    return pearson_columns(pred, y)


def fit_layer_bin(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray | None, settings: NeuralFitSettings
) -> float:
    """The median over neurons of :func:`fit_scores`."""
    return float(np.median(fit_scores(x, y, labels, settings)))
