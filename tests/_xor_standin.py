"""Synthetic α-grid rankings over a passage table made of real XOR-Retrieve answers (tests and bench).

The English Wikipedia corpus of XOR-Retrieve is not in the offline mirror, so the passages are
built here: 60-220 common English words with 0-3 real dev answers (span answers of random
questions) and one tokenisation-sensitive mark (".", "Mr.", "'s", ...) inserted, as
``tests/test_xor_retrieve.py`` does for its cross-check; plus, for some multi-word answers, a pair
of passages where one ends with the answer's first word and the other starts with the rest, so
that answers cross passage boundaries. Each question ranks the table by a random base score
plus ``α`` times a second random score (the shape of ``search_alpha_grid``'s fused scores), so
the rankings of nearby α share most passages in a slightly different order; its own answer's
passage is boosted into the top ranks for most questions, and its split pair, when it has one,
is kept adjacent.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

ENGLISH = ("the of and a to in is was for on as with by he at from his an were are which this be or has "
           "had not but first one their its new after who they have her she two been other when there all "
           "during into school time may years more most only over city some world would where later up such "
           "used many can state about national out known university united then made").split()  # fmt: skip
MARKS = [".", ",", "Mr.", "(", ")", "'s", "U.S."]


def standin_grid(
    data: pd.DataFrame, alphas, *, n_passages: int = 3000, depth: int = 100, seed: int = 0
) -> tuple[dict, list[str], list[str], list[str]]:
    """``({α: indices (n_questions, depth)}, query_ids, passages, crossing)`` for the questions of
    ``data``; ``crossing``: ids of the questions whose answer is split over two adjacent passages."""
    rng = random.Random(seed)
    answers = [[a for a in ans if a not in ("yes", "no")] for ans in data["answers"]]
    pool = [a for ans in answers for a in ans]
    passages = []
    for _ in range(n_passages):
        words = [rng.choice(ENGLISH) for _ in range(rng.randint(60, 220))]
        for _ in range(rng.randint(0, 3)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(pool))
        words.insert(rng.randrange(len(words) + 1), rng.choice(MARKS))
        passages.append(" ".join(words))
    own, split = {}, {}
    for i, ans in enumerate(answers):
        if ans and rng.random() < 0.6:
            answer = rng.choice(ans)
            head, _, tail = answer.partition(" ")
            filler = " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(40, 120)))
            if tail and rng.random() < 0.5:
                split[i] = len(passages)
                passages += [f"{filler} {head}", f"{tail} {filler}"]
            else:
                own[i] = len(passages)
                passages.append(f"{filler} {answer} {filler}.")
    gen = np.random.default_rng(seed)
    n = len(data)
    base, other = gen.random((n, len(passages))), gen.random((n, len(passages)))
    for i, p in own.items():
        base[i, p] += 0.9
    for i, p in split.items():
        base[i, p] += 0.9
        base[i, p + 1] = -1.0  # placed right after its head below
    grid = {}
    for alpha in alphas:
        scores = base + alpha * other
        top = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        for i, p in split.items():
            row = [r for r in top[i].tolist() if r != p + 1]
            if p in row:
                row.insert(row.index(p) + 1, p + 1)
            top[i] = row[:depth]
        grid[alpha] = top
    qids = list(data["query_id"])
    return grid, qids, passages, [qids[i] for i in sorted(split)]
