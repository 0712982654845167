"""The MKQA study's alignment: the pairs it is measured on, per-pair InfoNCE terms, every measure
per cell, the α curve and the headline (paired gains of xQG and of fine-tuning per language)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["pair_views", "infonce_terms", "terms_by_lang", "alignment_table", "alpha_curve", "headline_table"]


def pair_views(questions: pd.DataFrame, gold: pd.DataFrame, *, langs: Sequence[str]) -> pd.DataFrame:
    """The questions the alignment is measured on: one per gold passage (the first question id
    of each, so no passage appears twice), with its English and target-language query.

    Returns ``lang, question_id, doc_id, row, en_text, text`` for every language of ``langs``
    other than English.
    """
    first = gold.sort_values("question_id").drop_duplicates("row")
    en = questions[questions["lang"] == "en"].set_index("question_id")["text"]
    frames = []
    for lang in langs:
        if lang == "en":
            continue
        target = questions[questions["lang"] == lang].set_index("question_id")["text"]
        part = first[first["question_id"].isin(target.index)][["question_id", "doc_id", "row"]].copy()
        part["en_text"] = en.reindex(part["question_id"]).to_numpy()
        part["text"] = target.reindex(part["question_id"]).to_numpy()
        frames.append(part.assign(lang=lang))
    import pandas as pd

    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[["lang", "question_id", "doc_id", "row", "en_text", "text"]]


def infonce_terms(X: np.ndarray, Y: np.ndarray, *, similarity: str = "cosine", temperature: float | None = None):
    """Per-pair InfoNCE terms, float ``(n,)``: ``log N + ½[(s_ii − lse_j s_ij) + (s_ii − lse_j s_ji)]``.

    Their mean is the headline of :func:`xqg_lab.alignment.contrastive.infonce_bound` (both
    directions, the full sample as negatives, ``T`` = 0.01 for cosine and 1 for dot by default);
    a paired difference of two conditions on the same pairs is a mean of per-pair differences.
    """
    from scipy.special import logsumexp

    temperature = temperature if temperature is not None else (0.01 if similarity == "cosine" else 1.0)
    s = _similarity(np.asarray(X), np.asarray(Y), similarity=similarity, temperature=temperature)
    diag = np.diag(s)
    n = len(s)
    return np.log(n) + 0.5 * ((diag - logsumexp(s, axis=1)) + (diag - logsumexp(s, axis=0)))


def _similarity(X: np.ndarray, Y: np.ndarray, *, similarity: str, temperature: float) -> np.ndarray:
    if similarity == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return (X.astype(np.float64) @ Y.astype(np.float64).T) / temperature


def terms_by_lang(langs: np.ndarray, X: np.ndarray, Y: np.ndarray, similarity: str) -> np.ndarray:
    """Per-pair InfoNCE terms computed within each language (N = that language's pairs)."""
    out = np.zeros(len(langs))
    for lang in np.unique(langs):
        mask = langs == lang
        out[mask] = infonce_terms(X[mask], Y[mask], similarity=similarity)
    return out


def alignment_table(embeddings: Mapping[tuple[str, str, float], tuple[np.ndarray, np.ndarray, np.ndarray]],
                    *, measures: Sequence[str], n_bootstrap: int, seed: int,
                    options: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The alignment measures (:func:`xqg_lab.alignment.alignment_report`) of every cell.

    ``embeddings[(pair_kind, condition, alpha)] = (langs, X, Y)``: row i of ``X`` (English side)
    pairs with row i of ``Y`` (target side); ``langs`` (n,) says which language each row is.
    Returns the report rows with ``pair_kind, condition, alpha, lang`` added (``n`` is N).
    """
    import pandas as pd

    from xqg_lab.alignment.registry import alignment_report

    frames = []
    for (kind, condition, alpha), (langs, X, Y) in embeddings.items():
        for lang in sorted(set(langs)):
            mask = np.asarray(langs) == lang
            if mask.sum() < 2:
                continue
            report = alignment_report(X[mask], Y[mask], measures=measures, n_bootstrap=n_bootstrap, seed=seed,
                                      options=options)  # fmt: skip
            frames.append(report.assign(pair_kind=kind, condition=condition, alpha=alpha, lang=lang))
    out = pd.concat(frames, ignore_index=True)
    front = ["pair_kind", "condition", "alpha", "lang"]
    return out[front + [c for c in out.columns if c not in front]]


def alpha_curve(alignment: pd.DataFrame, *, measure: str = "infonce_bound") -> pd.DataFrame:
    """``encoder, condition, alpha, lang, value, ci_low, ci_high, n`` of ``measure`` on passage pairs
    (α = 0 is the plain passage ``p`` of each encoder)."""
    head = alignment[(alignment["pair_kind"] == "passage") & (alignment["name"] == measure)]
    head = head.assign(encoder=head["condition"].str.replace(" + xQG", "", regex=False))
    return head[["encoder", "condition", "alpha", "lang", "value", "ci_low", "ci_high", "n"]].reset_index(drop=True)


def headline_table(terms: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]], *, n_bootstrap: int,
                   seed: int) -> pd.DataFrame:
    """Per language: the InfoNCE gain (nats) of xQG and of fine-tuning, with paired bootstrap
    intervals over the pairs (95%, percentile).

    ``terms[(pair_kind, condition)] = (langs, per-pair InfoNCE terms)`` from :func:`infonce_terms`,
    rows aligned across conditions. Columns: ``lang, n``, then for each comparison
    ``<name>`` (gain) and ``<name> CI``:

    - ``xQG (passage pairs)``: zero-shot + xQG vs zero-shot, English ``p'`` vs ``p`` <-> target query;
    - ``fine-tuning (passage pairs)``: fine-tuned vs zero-shot on the same pairs;
    - ``xQG on fine-tuned (passage pairs)``: fine-tuned + xQG vs fine-tuned;
    - ``fine-tuning (query pairs)``: English query <-> target query; xQG's gain there is 0 by
      construction (it changes passage vectors only).
    """
    import pandas as pd

    comparisons = {
        "xQG (passage pairs)": (("passage", "zero-shot"), ("passage", "zero-shot + xQG")),
        "fine-tuning (passage pairs)": (("passage", "zero-shot"), ("passage", "fine-tuned")),
        "xQG on fine-tuned (passage pairs)": (("passage", "fine-tuned"), ("passage", "fine-tuned + xQG")),
        "fine-tuning (query pairs)": (("query", "zero-shot"), ("query", "fine-tuned")),
    }
    langs_all = terms[("passage", "zero-shot")][0]
    rows = []
    for lang in sorted(set(langs_all)):
        row: dict[str, Any] = {"lang": lang}
        for name, (base, treat) in comparisons.items():
            if base not in terms or treat not in terms:
                continue
            lb, tb = terms[base]
            lt, tt = terms[treat]
            a, b = tb[np.asarray(lb) == lang], tt[np.asarray(lt) == lang]
            row["n"] = len(a)
            gain, lo, hi = _paired_gain(a, b, n_bootstrap=n_bootstrap, seed=seed)
            row[name] = gain
            row[f"{name} CI"] = f"[{lo:+.3f}, {hi:+.3f}]"
        rows.append(row)
    return pd.DataFrame(rows)


def _paired_gain(a: np.ndarray, b: np.ndarray, *, n_bootstrap: int, seed: int, confidence: float = 0.95):
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    if n_bootstrap and len(d) > 1:
        means = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(n_bootstrap)])
        lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    else:
        lo = hi = np.nan
    return float(d.mean()), float(lo), float(hi)
