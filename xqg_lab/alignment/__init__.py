"""Mutual-information style alignment between paired source / target embeddings.

For paired embeddings ``X`` (n, d) and ``Y`` (n, d') -- row i of X is paired with row i of Y,
e.g. a passage and its translation -- each measure returns an :class:`Estimate`: the value,
a bootstrap interval over pairs (percentile; ``gaussian_mi`` uses the basic interval), the
number of pairs N, the unit, a reference value to read it against, and its parts.
:func:`alignment_report` collects several into one tidy ``pandas.DataFrame``.

Measures (each name is also its function's name; unit; direction of "more aligned"):

- ``infonce_bound``: InfoNCE lower bound on MI with critic cos / T, both directions; nats; higher.
- ``bitext_accuracy``: retrieval accuracy@1 both directions, cosine or margin; fraction; higher.
- ``alignment_loss``: Wang & Isola alignment, mean ||x - y||^2 on unit vectors; lower.
- ``uniformity_loss``: Wang & Isola uniformity of X, Y and X u Y; lower.
- ``linear_cka``: linear CKA, debiased (and biased); unitless; higher.
- ``gaussian_mi``: Gaussian MI from canonical correlations after PCA; nats; higher.
- ``ksg_mi``: KSG kNN MI on a PCA projection, with a permutation null; nats; higher.
- ``language_probe``: cross-validated logistic-regression accuracy X vs Y; fraction; lower.
- ``cosine_gap``: paired minus random-pair cosine, with each side's anisotropy; higher.

Libraries vs hand-written: PCA, logistic regression, cross-validation and the KSG marginal
radius counts (``KDTree``) come from scikit-learn; the KSG joint neighbour search
(``cKDTree``) and ``digamma`` from scipy; BLAS thread limits from threadpoolctl.
Written here because no maintained library offers them on paired embeddings: the InfoNCE
estimate, margin scoring, alignment / uniformity, debiased linear CKA, the closed-form
CCA MI (batched over bootstrap replicates), the multivariate KSG estimator and the
multiplicity-weighted bootstrap. Each module's docstring cites its source and states how
its interval is obtained. Validation on correlated Gaussians with known MI is in
``tests/test_alignment.py``.
"""

from xqg_lab.alignment._base import Estimate
from xqg_lab.alignment.cka import linear_cka
from xqg_lab.alignment.contrastive import Scoring, Similarity, bitext_accuracy, infonce_bound
from xqg_lab.alignment.gaussian import gaussian_mi
from xqg_lab.alignment.geometry import alignment_loss, cosine_gap, uniform_sphere_uniformity, uniformity_loss
from xqg_lab.alignment.knn import ksg_mi
from xqg_lab.alignment.probe import language_probe
from xqg_lab.alignment.registry import MEASURES, REPORT_COLUMNS, Measure, alignment_report, estimates_frame

__all__ = [
    "Estimate",
    "Measure",
    "MEASURES",
    "REPORT_COLUMNS",
    "Scoring",
    "Similarity",
    "alignment_report",
    "estimates_frame",
    "infonce_bound",
    "bitext_accuracy",
    "alignment_loss",
    "uniformity_loss",
    "uniform_sphere_uniformity",
    "cosine_gap",
    "linear_cka",
    "gaussian_mi",
    "ksg_mi",
    "language_probe",
]
