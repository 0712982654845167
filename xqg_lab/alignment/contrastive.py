"""In-batch contrastive measures: the InfoNCE lower bound on MI and bitext retrieval accuracy.

Both read the full ``N x N`` similarity matrix between the two sides, which is never held in
memory: it is scanned in row blocks of ``batch_size`` rows (memory about
``3 * batch_size * N`` floats), collecting per-pair statistics for both directions in one pass.

Written by hand (no maintained library computes them on embeddings): the InfoNCE estimate of
van den Oord et al. (2018) / Poole et al. (2019, "On variational bounds of mutual
information"), and the ratio / distance margin of Artetxe & Schwenk (2019, "Margin-based
parallel corpus mining with multilingual sentence embeddings").

Confidence intervals resample the per-pair terms computed against the full candidate pool
(the negatives of InfoNCE, the retrieval candidates and margin neighbourhoods): a replicate
that drew pair i twice must not treat the copy of y_i as a second positive or competitor.
The interval therefore reflects which pairs were sampled, conditional on the pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from xqg_lab.core.validation import check_choice, check_positive_int
from xqg_lab.alignment._base import (Estimate, check_options, check_pair, l2_normalize, make_estimate, resample_counts,
                                    row_blocks, weighted_means)

__all__ = ["Similarity", "Scoring", "infonce_bound", "bitext_accuracy", "E5_TEMPERATURE", "DPR_TEMPERATURE"]

#: Training temperature of (multilingual-)e5, the toolkit's embedded encoder: its model card
#: states InfoNCE with temperature 0.01 (which is also why its cosines sit around 0.7-1.0).
E5_TEMPERATURE = 0.01
#: DPR / Tevatron checkpoints are trained on raw inner products (no temperature).
DPR_TEMPERATURE = 1.0


class Similarity(str, Enum):
    """Critic of the InfoNCE bound: cosine (e5 convention) or raw inner product (DPR)."""

    COSINE = "cosine"
    DOT = "dot"


class Scoring(str, Enum):
    """Bitext retrieval scores (Artetxe & Schwenk 2019, sec. 3.1).

    ``cosine``: plain cosine. ``ratio_margin``: ``cos(x, y) / ((r_x + r_y) / 2)``;
    ``distance_margin``: ``cos(x, y) - (r_x + r_y) / 2``; where ``r_x`` is the mean cosine of
    x to its ``k`` nearest targets and ``r_y`` that of y to its ``k`` nearest sources.
    """

    COSINE = "cosine"
    RATIO_MARGIN = "ratio_margin"
    DISTANCE_MARGIN = "distance_margin"


@dataclass
class _ScanResult:
    diag: np.ndarray  # s_ii
    row_stat: np.ndarray  # per row i: logsumexp_j s_ij, or max_j s_ij
    col_stat: np.ndarray  # per column j: logsumexp_i s_ij, or max_i s_ij


def _scan(A, B, *, batch_size, reduce, transform=None) -> _ScanResult:
    """One pass over ``S = A @ B.T`` (optionally ``transform(S_block, rows)``), reducing rows
    and columns with ``reduce`` in {"logsumexp", "max"}."""
    n = A.shape[0]
    diag = np.empty(n, dtype=np.float64)
    row_stat = np.empty(n, dtype=np.float64)
    col_max = np.full(B.shape[0], -np.inf, dtype=np.float64)
    col_sum = np.zeros(B.shape[0], dtype=np.float64)
    for R in row_blocks(n, batch_size):
        S = A[R] @ B.T
        if transform is not None:
            S = transform(S, R)
        idx = np.arange(R.stop - R.start)
        diag[R] = S[idx, idx + R.start]
        block_col_max = S.max(axis=0).astype(np.float64)
        if reduce == "max":
            row_stat[R] = S.max(axis=1)
            np.maximum(col_max, block_col_max, out=col_max)
        else:
            # log-sum-exp by hand (scipy's logsumexp costs ~3x more here), shifted by the max
            row_max = S.max(axis=1, keepdims=True)
            E = np.exp(S - row_max)
            row_stat[R] = np.log(E.sum(axis=1, dtype=np.float64)) + row_max[:, 0]
            new_max = np.maximum(col_max, block_col_max)
            col_sum *= np.exp(col_max - new_max)
            np.subtract(S, new_max.astype(S.dtype), out=E)
            col_sum += np.exp(E, out=E).sum(axis=0, dtype=np.float64)
            col_max = new_max
    col_stat = col_max if reduce == "max" else col_max + np.log(col_sum)
    return _ScanResult(diag=diag, row_stat=row_stat, col_stat=col_stat)


def _topk_means(A, B, *, k, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the k largest entries of each row and each column of ``A @ B.T``."""
    n, m = A.shape[0], B.shape[0]
    row_mean = np.empty(n, dtype=np.float64)
    col_top = np.full((k, m), -np.inf, dtype=A.dtype)
    for R in row_blocks(n, batch_size):
        S = A[R] @ B.T
        row_mean[R] = np.partition(S, m - k, axis=1)[:, m - k :].mean(axis=1)
        both = np.concatenate([col_top, S], axis=0)
        col_top = np.partition(both, both.shape[0] - k, axis=0)[-k:]
    return row_mean, col_top.astype(np.float64).mean(axis=0)


def infonce_bound(
    X, Y, *,
    temperature: float | None = None,
    similarity: Similarity | str = Similarity.COSINE,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
    batch_size: int = 1024,
) -> Estimate:
    """InfoNCE lower bound on I(X; Y) with the model's own similarity as critic, in nats.

    ``I_NCE(X->Y) = log N + mean_i [s_ii - logsumexp_j s_ij]`` with ``s_ij = sim(x_i, y_j) / T``
    over all N pairs as one batch (van den Oord et al. 2018; Poole et al. 2019). Every term
    is <= 0, so the estimate never exceeds ``log N``: a value near ``log N`` means the bound
    is saturated and says only that MI >= log N (use more pairs to see further). ``Y->X``
    normalises over the columns; the headline is the mean of both directions.

    Parameters
    ----------
    X, Y : float arrays (n, d)
        Row i of X is paired with row i of Y; both in one embedding space.
    temperature : float > 0, optional
        Critic temperature T. Default: 0.01 for cosine (multilingual-e5's training
        temperature, so the critic is the one the encoder was trained with) and 1.0 for the
        dot product (DPR is trained on raw inner products).
    similarity : {"cosine", "dot"}
    n_bootstrap, confidence, seed :
        Percentile bootstrap over pairs; the negatives stay the full sample.
    batch_size : int
        Rows of the similarity matrix held at once.

    Returns
    -------
    Estimate
        ``value`` = symmetric mean; parts ``x_to_y`` and ``y_to_x``; ``reference = log N``.
    """
    name = "infonce_bound"
    similarity = check_choice(similarity, Similarity, what="similarity")
    if temperature is None:
        temperature = E5_TEMPERATURE if similarity is Similarity.COSINE else DPR_TEMPERATURE
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"expected temperature as a finite float > 0, found {temperature!r}")
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    batch_size = check_positive_int(batch_size, "batch_size")
    X, Y = check_pair(X, Y, measure=name, min_n=2, same_dim=True)
    if similarity is Similarity.COSINE:
        X, Y = l2_normalize(X, "X", name), l2_normalize(Y, "Y", name)
    n = X.shape[0]
    scan = _scan(X / X.dtype.type(temperature), Y, batch_size=batch_size, reduce="logsumexp")
    terms = np.stack([scan.diag - scan.row_stat, scan.diag - scan.col_stat], axis=1)
    terms = np.minimum(terms, 0.0)  # exact value is <= 0; clip rounding noise so the cap holds
    counts = resample_counts(np.random.default_rng(seed), n, n_bootstrap)
    reps = math.log(n) + weighted_means(terms, counts)
    common = dict(
        confidence=confidence,
        n=n,
        unit="nats",
        higher_is_better=True,
        reference=math.log(n),
        reference_label="log N (the bound cannot exceed it)",
    )
    parts = (
        make_estimate(f"{name}.x_to_y", reps[:, 0], **common),
        make_estimate(f"{name}.y_to_x", reps[:, 1], **common),
    )
    return make_estimate(
        name,
        reps.mean(axis=1),
        parts=parts,
        extra={"temperature": float(temperature), "similarity": similarity.value, "log_n": math.log(n)},
        **common,
    )


def bitext_accuracy(
    X, Y, *,
    scoring: Scoring | str = Scoring.COSINE,
    k: int = 4,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
    batch_size: int = 1024,
) -> Estimate:
    """Bitext retrieval accuracy@1 in both directions, as a fraction in [0, 1].

    X->Y: for each x_i, is y_i the best-scoring target among all N? (Y->X likewise over
    sources.) A tie with the gold target counts as a hit. With independent sides the
    expected accuracy is 1/N (``reference``).

    Parameters
    ----------
    X, Y : float arrays (n, d)
        Paired rows, one embedding space.
    scoring : {"cosine", "ratio_margin", "distance_margin"}
        Margin scores (Artetxe & Schwenk 2019) discount hubs; ``k`` neighbours (their default
        4) define the neighbourhood mean cosines. ``ratio_margin`` needs positive
        neighbourhood means; use ``distance_margin`` otherwise.
    n_bootstrap, confidence, seed :
        Percentile bootstrap over pairs; candidates stay the full sample.

    Returns
    -------
    Estimate
        ``value`` = mean of both directions; parts ``x_to_y`` and ``y_to_x``.
    """
    name = "bitext_accuracy"
    scoring = check_choice(scoring, Scoring, what="scoring")
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    batch_size = check_positive_int(batch_size, "batch_size")
    k = check_positive_int(k, "k")
    min_n = 2 if scoring is Scoring.COSINE else k + 1
    X, Y = check_pair(X, Y, measure=name, min_n=min_n, same_dim=True)
    X, Y = l2_normalize(X, "X", name), l2_normalize(Y, "Y", name)
    n = X.shape[0]
    transform = None
    if scoring is not Scoring.COSINE:
        r_x, r_y = _topk_means(X, Y, k=k, batch_size=batch_size)
        r_x, r_y = r_x.astype(X.dtype), r_y.astype(X.dtype)
        if scoring is Scoring.RATIO_MARGIN:
            if min(r_x.min(), r_y.min()) <= 0:
                raise ValueError(
                    "bitext_accuracy: expected positive mean cosines to the k nearest neighbours for "
                    "scoring='ratio_margin', found values <= 0; use scoring='distance_margin'"
                )

            def transform(S, R):
                return S / ((r_x[R, None] + r_y[None, :]) / 2)

        else:

            def transform(S, R):
                return S - (r_x[R, None] + r_y[None, :]) / 2

    scan = _scan(X, Y, batch_size=batch_size, reduce="max", transform=transform)
    hits = np.stack([scan.diag >= scan.row_stat, scan.diag >= scan.col_stat], axis=1).astype(np.float64)
    counts = resample_counts(np.random.default_rng(seed), n, n_bootstrap)
    reps = weighted_means(hits, counts)
    common = dict(
        confidence=confidence,
        n=n,
        unit="fraction",
        higher_is_better=True,
        reference=1.0 / n,
        reference_label="1/N (chance)",
    )
    parts = (
        make_estimate(f"{name}.x_to_y", reps[:, 0], **common),
        make_estimate(f"{name}.y_to_x", reps[:, 1], **common),
    )
    extra = {"scoring": scoring.value}
    if scoring is not Scoring.COSINE:
        extra["k"] = k
    return make_estimate(name, reps.mean(axis=1), parts=parts, extra=extra, **common)
