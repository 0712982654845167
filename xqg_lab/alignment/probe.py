"""Language-identity probe: can a linear classifier tell source rows from target rows?

A cross-validated logistic regression (scikit-learn ``LogisticRegression`` on standardised
features, ``StandardScaler`` fitted inside each fold) is trained to label each of the 2N
vectors as X (0) or Y (1). Accuracy near chance (the majority-class rate, 0.5 here since
both sides have N rows) means the space carries little linearly decodable language
identity; lower is more language-neutral.

Folds: both rows of a pair always fall in the same fold (a ``PredefinedSplit`` over a
seeded permutation of pairs), so every fold holds exactly as many X rows as Y rows -- it is
stratified by construction -- and no test vector has its translation in the training set.
(scikit-learn's ``StratifiedGroupKFold`` gives an equivalent split but loops over groups in
Python: seconds at N = 10,000.)

No interval: a bootstrap of pairs over the out-of-fold predictions, with the fitted fold
models held fixed, captures test-sample noise but not the variability of refitting, and
covered the true accuracy (0.5, two identically distributed sides) in only 80% of simulated
data sets at the notebook's setting (N = 500, 384-d, 3 folds, nominal 95%;
``bench/bench_coverage.py``); refitting per replicate costs ~100 probe fits. So the estimate
carries no interval (``ci_low``/``ci_high`` NaN, ``n_bootstrap`` 0); read it against chance.
"""

from __future__ import annotations

import numpy as np

from xqg_lab.core.validation import check_positive_int
from xqg_lab.alignment._base import (
    Estimate,
    check_options,
    check_pair,
    make_estimate,
)

__all__ = ["language_probe"]


def language_probe(
    X, Y, *,
    n_splits: int = 5,
    C: float = 1.0,
    max_iter: int = 1000,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
) -> Estimate:
    """Cross-validated accuracy of a logistic-regression probe separating X rows from Y rows.

    Parameters
    ----------
    X, Y : float arrays (n, d)
        One embedding space; the probe sees 2n rows with labels 0 (X) and 1 (Y).
    n_splits : int
        Folds of pairs (both rows of a pair in the same fold).
    C, max_iter :
        Inverse L2 regularisation strength and iteration cap of ``LogisticRegression``.
    n_bootstrap, confidence, seed :
        ``seed`` shuffles the folds; ``n_bootstrap`` and ``confidence`` are checked and
        otherwise unused (no interval, see the module docstring), so that every measure of
        :func:`xqg_lab.alignment.alignment_report` takes the same arguments.

    Returns
    -------
    Estimate
        ``value`` = accuracy in [0, 1]; ``reference`` = chance (majority-class rate);
        lower is more language-neutral.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    name = "language_probe"
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    n_splits = check_positive_int(n_splits, "n_splits", minimum=2)
    max_iter = check_positive_int(max_iter, "max_iter")
    if not (isinstance(C, (int, float)) and C > 0):
        raise ValueError(f"expected C as a float > 0, found {C!r}")
    X, Y = check_pair(X, Y, measure=name, min_n=n_splits, same_dim=True)
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    fold_of_pair = np.empty(n, dtype=int)
    fold_of_pair[rng.permutation(n)] = np.arange(n) % n_splits
    rows = np.vstack([X, Y])
    labels = np.repeat([0, 1], n)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    predicted = cross_val_predict(model, rows, labels, cv=PredefinedSplit(np.tile(fold_of_pair, 2)))
    correct = (predicted == labels).astype(np.float64)
    per_pair = (correct[:n] + correct[n:]) / 2
    reps = np.array([per_pair.mean()])  # the full sample only: no interval
    chance = float(max(labels.mean(), 1 - labels.mean()))
    return make_estimate(
        name,
        reps,
        confidence=confidence,
        n=n,
        unit="fraction",
        higher_is_better=False,
        reference=chance,
        reference_label="chance (majority-class rate)",
        extra={"n_splits": n_splits, "C": float(C), "classifier": "LogisticRegression on standardised rows",
               "interval": "none (see xqg_lab.alignment.probe)"},  # fmt: skip
    )
