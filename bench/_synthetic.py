"""Synthetic embeddings shaped like e5 vectors of passages, queries and query sums.

Real multilingual-e5 vectors share a large common direction (mean cosine between unrelated
texts about 0.7, DESIGN.md) and passages form topical clusters. Here:

- passage ``i``: ``normalize(0.8·c + 0.6·u_i)``, ``u_i`` a unit vector near one of
  ``n_clusters`` topic centres;
- query about passage ``t``: the same construction around ``u_t`` with more noise;
- ``S_i`` (sum of 35 generated-query vectors): ``35 ×`` a query-like vector around ``u_i``
  with little noise (the average of 35 noisy queries), scaled by 0.95 (their mean length).
"""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class SyntheticCorpus:
    """Deterministic synthetic vectors; rows are generated in blocks, so a 1M × 384 corpus
    never needs more than its own float32 array."""

    def __init__(self, *, dim: int = 384, n_clusters: int = 1000, seed: int = 0, n_sums: int = 35):
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.seed = seed
        self.n_sums = n_sums
        self.common = _unit(rng.standard_normal((1, dim)))[0]
        self.centres = _unit(rng.standard_normal((n_clusters, dim)))

    def _topics(self, rows: np.ndarray, rng, noise: float) -> np.ndarray:
        centre = self.centres[rows % len(self.centres)]
        return _unit(centre + noise * rng.standard_normal((len(rows), self.dim)) / np.sqrt(self.dim))

    def _u(self, start: int, stop: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, start, 1])
        return self._topics(np.arange(start, stop), rng, 1.0)

    def passages(self, start: int, stop: int) -> np.ndarray:
        """float32 ``(stop - start, dim)``, rows ``start..stop`` of the corpus."""
        return _unit(0.8 * self.common + 0.6 * self._u(start, stop)).astype(np.float32)

    def query_sums(self, start: int, stop: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, start, 2])
        u = _unit(self._u(start, stop) + 0.2 * rng.standard_normal((stop - start, self.dim)) / np.sqrt(self.dim))
        return (self.n_sums * 0.95 * _unit(0.8 * self.common + 0.6 * u)).astype(np.float32)

    def queries(self, n: int, *, n_passages: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(queries float32 (n, dim), target passage rows (n,))``."""
        rng = np.random.default_rng([self.seed, seed, 3])
        targets = np.sort(rng.choice(n_passages, size=n, replace=False))
        u = np.concatenate([self._u(t, t + 1) for t in targets])
        u = _unit(u + 0.6 * rng.standard_normal(u.shape) / np.sqrt(self.dim))
        return _unit(0.8 * self.common + 0.6 * u).astype(np.float32), targets

    def blocks(self, n: int, *, block: int = 100_000, kind: str = "passages"):
        """Consecutive blocks of rows ``[0, n)``."""
        make = self.passages if kind == "passages" else self.query_sums
        for start in range(0, n, block):
            yield make(start, min(start + block, n))
