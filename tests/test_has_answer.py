"""DPR's has_answer matching, pinned on hand-checked cases (see xqg_lab.metrics.has_answer)."""

import unicodedata

import numpy as np
import pytest

from xqg_lab.metrics.has_answer import answer_hits, dpr_tokens, has_answer, qa_recall_per_query


def _dpr_reference(answers, text):
    """DPR a31212dc qa_validation.has_answer(match_type="string") written out literally:
    SimpleTokenizer over NFD text, words(uncased=True), sliding window comparison."""
    import regex

    tokenizer = regex.compile(
        "(%s)|(%s)" % (r"[\p{L}\p{N}\p{M}]+", r"[^\p{Z}\p{C}]"),
        flags=regex.IGNORECASE + regex.UNICODE + regex.MULTILINE,
    )

    def words(s):
        return [m.group().lower() for m in tokenizer.finditer(s)]

    text = words(unicodedata.normalize("NFD", text))
    for single in answers:
        single = words(unicodedata.normalize("NFD", single))
        for i in range(0, len(text) - len(single) + 1):
            if single == text[i : i + len(single)]:
                return True
    return False


CASES = [
    # (answers, passage, expected, why)
    (["Ridley Scott"], "Gladiator is a 2000 film directed by Ridley Scott.", True, "multi-token answer"),
    (["ridley SCOTT"], "Gladiator was directed by RIDLEY scott in 2000", True, "case is ignored"),
    (["Scott"], "the Scotts of Gladiator", False, "partial token does not match"),
    (["Ridley Scott"], "Ridley and Scott directed it", False, "tokens must be contiguous"),
    (["Hafþór Júlíus Björnsson"], "Hafþór Júlíus Björnsson played the Mountain.", True, "accents, same spelling"),
    (["Hafþór Júlíus Björnsson"], "Hafþór Ju\u0301li\u0301us Bjo\u0308rnsson played it", True, "NFC vs NFD forms match"),
    (["Hafthor Julius Bjornsson"], "Hafþór Júlíus Björnsson played the Mountain.", False, "accents are not stripped"),
    (["Hafthor Julius Bjornsson", "Hafþór Júlíus Björnsson"], "Hafþór Júlíus Björnsson won", True, "any alias"),
    (["Sir Ridley Scott", "Ridley Scott"], "It was Ridley Scott's film.", True, "alias; apostrophe splits tokens"),
    (["U.S."], "He moved to the U.S. in 1990.", True, "punctuation tokens match"),
    (["U.S."], "He moved to the US in 1990.", False, "punctuation must be present"),
    (["2017"], "The single came out on 18 May 2017.", True, "number as token"),
    (["2017"], "Released in 20170518.", False, "number inside a longer number"),
    (["2017-05-18"], "dated 2017-05-18 in the notes", True, "date with hyphens"),
    (["18 May 2017"], "dated 18 May, 2017", False, "comma breaks the sequence"),
    (["3.5"], "it weighs 3.5 kg", True, "decimal number: 3 . 5"),
    (["Hello, world!"], "they said hello , world ! twice", True, "punctuation tokens, spacing free"),
]


@pytest.mark.parametrize("answers, text, expected, why", CASES, ids=[c[3] for c in CASES])
def test_has_answer_hand_checked(answers, text, expected, why):
    assert has_answer(answers, text) is expected
    assert _dpr_reference(answers, text) is expected  # the literal DPR loop agrees


def test_dpr_tokens_splits_punctuation_and_lowercases():
    assert dpr_tokens("Ridley Scott's \"Gladiator\" (2000)") == [
        "ridley", "scott", "'", "s", '"', "gladiator", '"', "(", "2000", ")"
    ]
    assert dpr_tokens("Björn")[0] == unicodedata.normalize("NFD", "björn")  # combining mark kept in the token


def test_answer_hits_matches_reference_on_mkqa_like_texts():
    texts = ["Ridley Scott directed Gladiator.", "Scott is a name.", "In 2017 it came out.", "nothing"]
    answers = ["Ridley Scott", "2017"]
    expected = np.array([_dpr_reference(answers, t) for t in texts])
    np.testing.assert_array_equal(answer_hits(answers, texts), expected)
    np.testing.assert_array_equal(expected, [True, False, True, False])


def test_empty_answer_refused():
    with pytest.raises(ValueError, match="at least one token"):
        has_answer(["  "], "any text")
    with pytest.raises(TypeError, match="list of strings"):
        has_answer("Ridley Scott", "Ridley Scott")


def test_qa_recall_per_query():
    hits = np.array([[False, True, False], [False, False, False], [True, False, False]])
    np.testing.assert_array_equal(qa_recall_per_query(hits, ks=[1, 2, 3]), [[0, 1, 1], [0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="k in 1..3"):
        qa_recall_per_query(hits, ks=[4])
