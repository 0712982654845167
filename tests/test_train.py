import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import xqg_lab.train.loop as loop_mod
from xqg_lab.core.config import ConfigError
from xqg_lab.data.common import RetrievalData
from xqg_lab.encode.model import Encoder, pool
from xqg_lab.encode.presets import Pooling
from xqg_lab.core.errors import DataFormatError
from xqg_lab.train import (
    CHECKPOINT_FILE,
    DPRTrainingData,
    TrainingConfig,
    build_in_batch_passages,
    contrastive_loss,
    encoder_from_checkpoint,
    load_training_config,
    main,
    read_dpr_training_file,
    run_training_job,
    train_biencoder,
    xquad_training_split,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
WORDS = "the quick brown fox jumps over lazy dog wer ist der präsident von frankreich title text".split()


def learnable_triples(n=16, seed=0):
    """``n`` distinct 4-word texts; each query's positive is the same text."""
    rng = np.random.default_rng(seed)
    texts = sorted({" ".join(rng.choice(WORDS, size=4, replace=False)) for _ in range(4 * n)})[:n]
    return pd.DataFrame({"query": texts, "positive": texts})


def in_memory_vectors(model, tokenizer, texts, *, prefix, pooling, normalize, max_length):
    """Vectors straight from a trained in-memory module (no Encoder involved)."""
    batch = tokenizer(
        [prefix + t for t in texts], truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        v = pool(model(**batch).last_hidden_state, batch["attention_mask"], pooling)
    return (torch.nn.functional.normalize(v, dim=-1) if normalize else v).numpy()


def quick(**kw):
    """A tiny, fast config for plumbing tests."""
    base = dict(
        preset="e5", batch_size=4, epochs=1, learning_rate=1e-3, warmup_ratio=0.0, device="cpu", seed=0
    )
    return TrainingConfig(**{**base, **kw})


def fit(triples, model_dir, output_dir, *, config, **options):
    """:func:`train_biencoder` from the model in ``model_dir``, without a progress bar."""
    return train_biencoder(
        triples,
        model_name_or_path=str(model_dir),
        output_dir=output_dir,
        config=config,
        progress=False,
        **options,
    )


# -- loss and in-batch passages ----------------------------------------------------------------


def test_contrastive_loss_matches_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])
    targets = torch.tensor([0, 1])
    s = (q.numpy() @ p.numpy().T) / 0.5
    want = np.mean([np.log(np.exp(s[i]).sum()) - s[i, t] for i, t in enumerate([0, 1])])
    got = contrastive_loss(q, p, targets, temperature=0.5)
    assert float(got) == pytest.approx(want, rel=1e-6)


def test_in_batch_passages_share_a_column_for_a_shared_positive():
    passages, targets = build_in_batch_passages(["A", "B", "A"], [["C", "A"], ["B", "D"], []])
    assert passages == ["A", "B", "C", "D"]
    assert targets == [0, 1, 0]  # query 2 ranks A first too; B is not a negative of query 1


# -- training ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tmp_path_factory):
    triples = learnable_triples()
    out = tmp_path_factory.mktemp("trained") / "ckpt"
    result = fit(triples, tiny_bert_dir, out, config=quick(batch_size=8, epochs=12))
    return result, triples


def test_loss_falls_on_a_learnable_task(trained):
    result, _ = trained
    h = result.history
    assert list(h.columns) == ["step", "epoch", "loss", "lr", "grad_norm"]
    assert h["step"].tolist() == list(range(1, 25)) and h["epoch"].tolist() == [
        e for e in range(1, 13) for _ in range(2)
    ]
    # median of the late steps: a batch that happens to hold two texts with the same words in
    # another order is a hard negative and spikes one step's loss
    first, late = h["loss"].head(4).mean(), h["loss"].tail(8).median()
    assert late < 0.2 * first, (first, late)
    assert np.all(np.diff(h["lr"]) < 0)  # no warm-up: linear decay from the first step


def test_checkpoint_reloads_with_encoder_and_gives_the_in_memory_vectors(trained):
    result, triples = trained
    texts = triples["query"].tolist()[:5]
    want_q = in_memory_vectors(
        result.query_model,
        result.tokenizer,
        texts,
        prefix="query: ",
        pooling=Pooling.MEAN,
        normalize=True,
        max_length=512,
    )
    want_p = in_memory_vectors(
        result.query_model,
        result.tokenizer,
        texts,
        prefix="passage: ",
        pooling=Pooling.MEAN,
        normalize=True,
        max_length=512,
    )
    enc = Encoder(str(result.output_dir), preset="e5", cache_dir=False, progress=False, device="cpu")
    np.testing.assert_allclose(enc.encode_queries(texts), want_q, atol=1e-5)
    np.testing.assert_allclose(enc.encode_passages(texts), want_p, atol=1e-5)
    again = encoder_from_checkpoint(result.output_dir, cache_dir=False, progress=False, device="cpu")
    np.testing.assert_allclose(again.encode_queries(texts), want_q, atol=1e-5)


def test_checkpoint_record_holds_parameters_seed_and_loss_summary(trained, tiny_bert_dir):
    result, triples = trained
    record = json.loads((result.output_dir / CHECKPOINT_FILE).read_text())
    assert record["config"] == result.config.to_dict()
    assert record["seed"] == 0 and record["layout"] == "shared"
    assert record["start"]["model_name_or_path"] == str(tiny_bert_dir)
    assert record["start"]["identity"].startswith("sha256:")
    assert record["resolved"]["temperature"] == 0.01  # normalised preset default
    assert record["resolved"]["total_steps"] == 24
    assert record["data"]["n_triples"] == len(triples)
    assert record["loss"]["n_steps"] == 24
    assert record["loss"]["last_loss"] == pytest.approx(result.history["loss"].iloc[-1])
    assert (result.output_dir / "config.json").is_file() and (
        result.output_dir / "model.safetensors"
    ).is_file()


def test_shared_tower_reloads_for_bert_and_xlmr_with_dpr_preset(tiny_encoder_dir, tmp_path):
    triples = learnable_triples(8)
    result = fit(triples, tiny_encoder_dir, tmp_path / "out", config=quick(preset="dpr", max_steps=2))
    texts = triples["positive"].tolist()
    want = in_memory_vectors(
        result.query_model,
        result.tokenizer,
        texts,
        prefix="",
        pooling=Pooling.CLS,
        normalize=False,
        max_length=128,
    )
    enc = Encoder(str(result.output_dir), preset="dpr", cache_dir=False, progress=False, device="cpu")
    np.testing.assert_allclose(enc.encode_passages(texts), want, atol=1e-5)
    start = Encoder(str(tiny_encoder_dir), preset="dpr", cache_dir=False, progress=False, device="cpu")
    assert not np.allclose(start.encode_passages(texts), want, atol=1e-4)  # the weights did change


def test_separate_towers_save_and_reload(tiny_bert_dir, tmp_path):
    triples = learnable_triples(8)
    result = fit(triples, tiny_bert_dir, tmp_path / "out", config=quick(separate_towers=True, max_steps=3))
    out = result.output_dir
    q_dir, p_dir = out / "query_encoder", out / "passage_encoder"
    assert (q_dir / "model.safetensors").is_file() and (p_dir / "model.safetensors").is_file()
    assert (p_dir / "tokenizer_config.json").is_file() and (out / CHECKPOINT_FILE).is_file()
    texts = triples["query"].tolist()
    opts = dict(pooling=Pooling.MEAN, normalize=True, max_length=512)
    want_q = in_memory_vectors(result.query_model, result.tokenizer, texts, prefix="query: ", **opts)
    want_p = in_memory_vectors(result.passage_model, result.tokenizer, texts, prefix="passage: ", **opts)
    enc = Encoder(
        str(q_dir),
        preset="e5",
        passage_model_name_or_path=str(p_dir),
        cache_dir=False,
        progress=False,
        device="cpu",
    )
    np.testing.assert_allclose(enc.encode_queries(texts), want_q, atol=1e-5)
    np.testing.assert_allclose(enc.encode_passages(texts), want_p, atol=1e-5)
    same_tower = in_memory_vectors(result.query_model, result.tokenizer, texts, prefix="passage: ", **opts)
    assert not np.allclose(same_tower, want_p, atol=1e-4)  # the towers were trained apart
    via_record = encoder_from_checkpoint(out, cache_dir=False, progress=False, device="cpu")
    np.testing.assert_allclose(via_record.encode_passages(texts), want_p, atol=1e-5)


def test_separate_tower_checkpoint_continues_only_with_separate_towers(tiny_bert_dir, tmp_path):
    triples = learnable_triples(4)
    first = fit(triples, tiny_bert_dir, tmp_path / "a", config=quick(separate_towers=True, max_steps=1))
    with pytest.raises(ConfigError, match="separate_towers"):
        fit(triples, first.output_dir, tmp_path / "b", config=quick(max_steps=1))
    again = fit(triples, first.output_dir, tmp_path / "c", config=quick(separate_towers=True, max_steps=1))
    assert (again.output_dir / "passage_encoder" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "n, batch_size, accumulation, epochs, max_steps, want_epochs",
    [
        (16, 4, 2, 2, None, [1, 1, 2, 2]),  # 4 micro-batches per epoch -> 2 steps per epoch
        (20, 4, 2, 1, None, [1, 1, 1]),  # 5 micro-batches: the last step has one
        (16, 4, 2, 2, 3, [1, 1, 2]),  # capped
    ],
)
def test_gradient_accumulation_steps_and_schedule(
    tiny_bert_dir, tmp_path, n, batch_size, accumulation, epochs, max_steps, want_epochs
):
    triples = learnable_triples(n)
    config = quick(
        batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        epochs=epochs,
        max_steps=max_steps,
        warmup_ratio=0.5,
        learning_rate=1e-3,
    )
    h = fit(triples, tiny_bert_dir, tmp_path / "o", config=config).history
    assert h["epoch"].tolist() == want_epochs
    total = len(want_epochs)
    warmup = math.ceil(0.5 * total)
    # transformers' linear schedule: step s (0-based) uses s/warmup, then (total-s)/(total-warmup)
    want_lr = [1e-3 * (s / warmup if s < warmup else (total - s) / (total - warmup)) for s in range(total)]
    np.testing.assert_allclose(h["lr"], want_lr, rtol=1e-9, atol=1e-15)
    assert np.isfinite(h["loss"]).all()


def test_hard_negatives_are_sampled_from_the_row(tiny_bert_dir, tmp_path, monkeypatch):
    triples = learnable_triples(8)
    pool_of = {q: [f"neg {q} {j}" for j in range(3)] for q in triples["query"]}
    triples["negatives"] = [pool_of[q] for q in triples["query"]]
    calls = []
    real = loop_mod.build_in_batch_passages

    def spy(positives, negatives=None):
        calls.append((list(positives), negatives))
        return real(positives, negatives)

    monkeypatch.setattr(loop_mod, "build_in_batch_passages", spy)
    fit(triples, tiny_bert_dir, tmp_path / "o", config=quick(n_negatives=2))
    assert len(calls) == 2
    for positives, negatives in calls:
        for pos, negs in zip(positives, negatives):
            assert len(negs) == 2 and len(set(negs)) == 2 and set(negs) <= set(pool_of[pos])


def test_n_negatives_without_a_negatives_column_is_refused(tiny_bert_dir, tmp_path):
    with pytest.raises(ValueError, match="no 'negatives' column"):
        fit(learnable_triples(4), tiny_bert_dir, tmp_path / "o", config=quick(n_negatives=1))


@pytest.mark.parametrize(
    "frame, match",
    [
        (
            pd.DataFrame({"query": ["a", "b", " "], "positive": ["x", "y", "z"]}),
            r"row 2 .*'query': expected a non-empty string, found ' '",
        ),
        (pd.DataFrame({"query": ["a"], "passage": ["x"]}), r"expected triples with the column\(s\) 'positive', found columns \['query', 'passage'\]"),
        (pd.DataFrame({"query": [], "positive": []}), "empty"),
        (
            pd.DataFrame({"query": ["a"], "positive": ["x"], "negatives": ["not a list"]}),
            "row 0 .*'negatives': expected a list",
        ),
    ],
)
def test_malformed_triples_are_refused_naming_the_row(tiny_bert_dir, tmp_path, frame, match):
    with pytest.raises(ValueError, match=match):
        fit(frame, tiny_bert_dir, tmp_path / "o", config=quick())


def test_output_dir_is_not_overwritten_silently(tiny_bert_dir, tmp_path):
    triples = learnable_triples(4)
    out = tmp_path / "o"
    fit(triples, tiny_bert_dir, out, config=quick(max_steps=1))
    with pytest.raises(ValueError, match="not empty"):
        fit(triples, tiny_bert_dir, out, config=quick(max_steps=1))
    fit(triples, tiny_bert_dir, out, config=quick(max_steps=1), overwrite=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="refusing to delete"):
        fit(triples, tiny_bert_dir, other, config=quick(max_steps=1), overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_intermediate_checkpoints_every_save_steps(tiny_bert_dir, tmp_path):
    result = fit(learnable_triples(16), tiny_bert_dir, tmp_path / "o", config=quick(save_steps=2))
    assert sorted(p.name for p in result.output_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    record = json.loads((result.output_dir / "checkpoint-2" / CHECKPOINT_FILE).read_text())
    assert record["loss"]["n_steps"] == 2
    Encoder(
        str(result.output_dir / "checkpoint-2"), preset="e5", cache_dir=False, progress=False
    ).encode_queries(["a"])


def test_fp16_on_cpu_is_refused(tiny_bert_dir, tmp_path):
    with pytest.raises(ConfigError, match="fp16.*CUDA.*bf16"):
        TrainingConfig.parse({"precision": "fp16", "device": "cpu"})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16.*CUDA"):
            fit(learnable_triples(4), tiny_bert_dir, tmp_path / "o", config=TrainingConfig(precision="fp16"))
        assert not (tmp_path / "o").exists()


def test_bf16_autocast_runs_on_cpu(tiny_bert_dir, tmp_path):
    config = quick(precision="bf16", max_steps=1)
    h = fit(learnable_triples(4), tiny_bert_dir, tmp_path / "o", config=config).history
    assert len(h) == 1 and np.isfinite(h["loss"]).all()


# -- configuration -----------------------------------------------------------------------------


def test_unknown_config_key_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="expected a known key, found 'learning_rat'; did you mean 'learning_rate'"):
        TrainingConfig.parse({"learning_rat": 1e-5})


@pytest.mark.parametrize(
    "values, match",
    [
        ({"batch_size": 0}, "batch_size: expected a positive integer, found 0"),
        ({"batch_size": True}, "batch_size: expected a positive integer, found True"),
        ({"warmup_ratio": 1.0}, "warmup_ratio: expected a number >= 0 below 1, found 1.0"),
        ({"learning_rate": -1e-5}, "learning_rate: expected a positive number, found -1e-05"),
        ({"precision": "fp8"}, "precision: expected one of 'fp32', 'fp16', 'bf16', found 'fp8'"),
        ({"pooling": "avg"}, "pooling: expected one of 'cls', 'mean', 'max', 'last' or null, found 'avg'"),
        ({"preset": "colbert"}, r"preset: expected an encoder preset \(dpr, e5\), found 'colbert'"),
        ({"temperature": 0}, "temperature: expected a positive number or null, found 0"),
        ({"learning_rate": "fast"}, "learning_rate: expected a positive number, found 'fast'"),
    ],
)
def test_invalid_config_values_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        TrainingConfig.parse(values)


def test_yaml_style_exponent_strings_are_numbers():
    assert TrainingConfig.parse({"learning_rate": "2e-5"}).learning_rate == 2e-5


def test_numbers_keep_the_type_they_were_written_with():
    """The checkpoint record and the checkpoint cache key hold the values as written."""
    config = TrainingConfig.parse({"weight_decay": 0, "learning_rate": 1e-5, "max_grad_norm": 1})
    assert config.to_dict()["weight_decay"] == 0 and isinstance(config.weight_decay, int)
    assert isinstance(config.max_grad_norm, int) and isinstance(config.learning_rate, float)


def test_temperature_defaults_follow_normalisation():
    assert TrainingConfig(preset="dpr").resolved_temperature() == 1.0
    assert TrainingConfig(preset="e5").resolved_temperature() == 0.01
    assert TrainingConfig(preset="e5", normalize=False).resolved_temperature() == 1.0
    assert TrainingConfig(preset="dpr", temperature=0.05).resolved_temperature() == 0.05


def write_config(tmp_path, body: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(body)
    return path


def test_training_config_file_unknown_keys_are_refused_with_suggestions(tmp_path):
    top = write_config(
        tmp_path, "training:\n  model_name_or_path: m\n  data: {source: xquad}\n  batch_sise: 8\n"
    )
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        load_training_config(top)
    data = write_config(
        tmp_path, "training:\n  model_name_or_path: m\n  data: {source: xquad, eval_fracion: 0.3}\n"
    )
    with pytest.raises(ConfigError, match="data: expected a known key, found 'eval_fracion'; did you mean 'eval_fraction'"):
        load_training_config(data)
    source = write_config(tmp_path, "training:\n  model_name_or_path: m\n  data: {source: msmarco}\n")
    with pytest.raises(ConfigError, match="data: source: expected one of 'xquad', 'dpr', found 'msmarco'"):
        load_training_config(source)
    outer = write_config(tmp_path, "trainig:\n  model_name_or_path: m\n")
    with pytest.raises(ConfigError, match="did you mean 'training'"):
        load_training_config(outer)


def test_repository_configs_load_with_the_papers_values():
    paper = load_training_config(REPO / "configs" / "finetune_xor_tydi.yaml")
    assert paper.model_name_or_path == "bert-base-multilingual-cased"
    assert isinstance(paper.data, DPRTrainingData)
    c = paper.config
    assert (c.preset, c.learning_rate, c.batch_size, c.epochs, c.n_negatives) == ("dpr", 1e-5, 128, 40, 7)
    assert (c.query_max_length, c.passage_max_length, c.precision, c.separate_towers) == (
        32,
        128,
        "fp16",
        False,
    )
    assert (c.warmup_ratio, c.temperature, c.max_grad_norm, c.seed) == (0.1, 1.0, 1.0, 42)
    demo = load_training_config(REPO / "configs" / "finetune_xquad_demo.yaml")
    assert demo.model_name_or_path == "embedded:multilingual-e5-small" and demo.data.source.value == "xquad"
    assert demo.config.precision in ("fp32", "bf16") and demo.config.max_steps <= 300


# -- data --------------------------------------------------------------------------------------

DPR_ITEMS = [
    {
        "dataset": "xor_tydi",
        "question": "ロンドンの人口は？",
        "answers": ["8 million"],
        "positive_ctxs": [{"title": "London", "text": "London has 8 million people.", "passage_id": "17"}],
        "negative_ctxs": [{"title": "Paris", "text": "Paris is in France."}],
        "hard_negative_ctxs": [{"title": "London Zoo", "text": "The zoo opened in 1828."}],
    },
    {
        "question": "Who wrote Faust?",
        "answers": ["Goethe"],
        "positive_ctxs": [
            {"title": "", "text": "Goethe wrote Faust."},
            {"title": "Faust", "text": "A play."},
        ],
        "hard_negative_ctxs": [],
    },
]


def test_dpr_training_file_is_read_as_triples(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(DPR_ITEMS, ensure_ascii=False))
    t = read_dpr_training_file(path)
    assert list(t.columns) == ["query_id", "query", "answers", "positive", "positive_id", "negatives"]
    assert t["query"].tolist() == ["ロンドンの人口は？", "Who wrote Faust?"]
    assert t["positive"].tolist() == ["London London has 8 million people.", "Goethe wrote Faust."]
    assert t["positive_id"].tolist() == ["17", ""] and t["query_id"].tolist() == ["0", "1"]
    assert t["negatives"].tolist() == [["London Zoo The zoo opened in 1828."], []]
    both = read_dpr_training_file(path, include_negative_ctxs=True)
    assert both["negatives"][0] == ["London Zoo The zoo opened in 1828.", "Paris Paris is in France."]


def test_dpr_and_tevatron_json_lines_are_read(tmp_path):
    path = tmp_path / "train.jsonl"
    tevatron = {
        "query_id": "q9",
        "query": "wer ist",
        "positive_passages": [{"docid": "5", "title": "T", "text": "x"}],
        "negative_passages": [{"docid": "6", "title": "U", "text": "y"}],
    }
    path.write_text(json.dumps(DPR_ITEMS[1]) + "\n\n" + json.dumps(tevatron) + "\n")
    t = read_dpr_training_file(path)
    assert t["query_id"].tolist() == ["0", "q9"] and t["positive"].tolist() == ["Goethe wrote Faust.", "T x"]
    assert t["positive_id"].tolist() == ["", "5"] and t["negatives"].tolist() == [[], ["U y"]]


@pytest.mark.parametrize(
    "bad, match",
    [
        ("not an object", "item 1: expected an object, found str"),
        ({"question": "q"}, "item 1: missing field 'positive_ctxs'"),
        ({"question": "", "positive_ctxs": []}, "item 1: field 'question': expected a non-empty string, found ''"),
        (
            {"question": "q", "positive_ctxs": [{"title": "t"}]},
            r"item 1: positive_ctxs\[0\]: 'text': expected a non-empty string, found None",
        ),
        (
            {"question": "q", "positive_ctxs": [{"text": "x"}], "hard_negative_ctxs": "x"},
            "item 1: field 'hard_negative_ctxs': expected a list of passages, found str",
        ),
        (
            {"question": "q", "answers": "a", "positive_ctxs": [{"text": "x"}]},
            "item 1: field 'answers': expected a list of strings, found 'a'",
        ),
    ],
)
def test_malformed_dpr_items_are_refused_naming_file_and_index(tmp_path, bad, match):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([DPR_ITEMS[0], bad]))
    with pytest.raises(DataFormatError, match=match) as info:
        read_dpr_training_file(path)
    assert str(path) in str(info.value)


def test_malformed_json_lines_name_the_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(DPR_ITEMS[1]) + '\n{"question": \n')
    with pytest.raises(DataFormatError, match=r"train.jsonl:2: malformed JSON .*\(item 1\)"):
        read_dpr_training_file(path)


def test_items_without_positives_are_dropped_with_a_warning_or_refused(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([DPR_ITEMS[0], {"question": "q", "positive_ctxs": []}]))
    with pytest.warns(UserWarning, match=r"dropped 1 item\(s\) without a positive passage \(first: item 1\)"):
        assert len(read_dpr_training_file(path)) == 1
    with pytest.raises(DataFormatError, match="item 1: no positive passage"):
        read_dpr_training_file(path, on_no_positive="raise")


def tiny_xquad() -> RetrievalData:
    """4 articles x 2 paragraphs, one question per paragraph in 2 languages."""
    docs = [f"{a:02d}-{p:02d}" for a in range(4) for p in range(2)]
    passages = pd.DataFrame(
        {"doc_id": docs, "title": [f"Art {d[:2]}" for d in docs], "text": [f"text {d}" for d in docs]}
    )
    queries = pd.DataFrame(
        [
            {
                "query_id": f"q{d}-{lang}",
                "question_id": f"q{d}",
                "lang": lang,
                "text": f"{lang} question on {d}",
            }
            for d in docs
            for lang in ("en", "de")
        ]
    ).sort_values("query_id", ignore_index=True)
    qrels = pd.DataFrame(
        {"query_id": queries["query_id"], "doc_id": queries["query_id"].str[1:6], "relevance": 1}
    )
    return RetrievalData(passages, queries, qrels)


def test_xquad_split_on_a_hand_checkable_collection():
    data = tiny_xquad()
    train, evaluation, split = xquad_training_split(data, eval_fraction=0.5, seed=3)
    eval_articles = set(split.loc[split["role"] == "eval", "article"])
    assert len(eval_articles) == 2 and split["n_paragraphs"].tolist() == [2, 2, 2, 2]
    assert split["n_queries"].tolist() == [4, 4, 4, 4]
    assert set(train["article"]).isdisjoint(eval_articles) and len(train) == 8
    row = train.iloc[0]
    a = row["doc_id"][:2]
    sibling = f"{a}-01" if row["doc_id"].endswith("00") else f"{a}-00"
    assert row["positive"] == f"Art {a} text {row['doc_id']}"
    assert row["negatives"] == [f"Art {a} text {sibling}"]
    assert len(evaluation.passages) == 8 and len(evaluation.queries) == 8
    assert set(evaluation.qrels["doc_id"].str[:2]) == eval_articles
    only = xquad_training_split(data, eval_fraction=0.5, seed=3, keep_all_passages=False).eval
    assert set(only.passages["doc_id"].str[:2]) == eval_articles


@pytest.mark.parametrize("kwargs, match", [({"eval_fraction": 1.0}, "eval_fraction"), ({"seed": -1}, "seed")])
def test_xquad_split_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xquad_training_split(tiny_xquad(), **kwargs)


@pytest.mark.slow
def test_xquad_split_is_leakage_free_and_deterministic_on_the_mirror():
    from xqg_lab.data import load_xquad

    data = load_xquad()
    train, evaluation, split = xquad_training_split(data, eval_fraction=0.5, seed=0)
    assert len(split) == 48 and (split["role"] == "eval").sum() == 24
    train_articles = set(split.loc[split["role"] == "train", "article"])
    eval_articles = set(split.loc[split["role"] == "eval", "article"])
    assert train_articles.isdisjoint(eval_articles)
    assert set(train["doc_id"].str[:2]) <= train_articles
    assert set(evaluation.qrels["doc_id"].str[:2]) <= eval_articles
    # no question (in any language) on both sides, and every query on exactly one
    assert set(train["query_id"].str.rsplit("-", n=1).str[0]).isdisjoint(
        set(evaluation.queries["question_id"])
    )
    assert len(train) + len(evaluation.queries) == len(data.queries)
    assert len(evaluation.passages) == 240
    assert split["n_queries"].sum() == len(data.queries)
    again = xquad_training_split(data, eval_fraction=0.5, seed=0)
    pd.testing.assert_frame_equal(again.split, split)
    pd.testing.assert_frame_equal(again.train, train)
    other = xquad_training_split(data, eval_fraction=0.5, seed=1)
    assert set(other.split.loc[other.split["role"] == "eval", "article"]) != eval_articles


def test_split_is_recorded_in_the_checkpoint(tiny_bert_dir, tmp_path):
    train, _, split = xquad_training_split(tiny_xquad(), eval_fraction=0.5, seed=3)
    result = fit(
        train,
        tiny_bert_dir,
        tmp_path / "o",
        config=quick(max_steps=1, n_negatives=1),
        split=split,
        data_description={"source": "xquad", "split_seed": 3},
    )
    record = json.loads((result.output_dir / CHECKPOINT_FILE).read_text())
    assert record["data"]["split"] == split.to_dict(orient="records")
    assert record["data"]["description"] == {"source": "xquad", "split_seed": 3}
    assert record["data"]["n_triples_by_lang"] == {"de": 4, "en": 4}


# -- the paper's config and the command ----------------------------------------------------------


def tiny_dpr_file(tmp_path, n=6) -> Path:
    items = [
        {
            "question": f"question {w}",
            "answers": [w],
            "positive_ctxs": [{"title": w, "text": f"passage about {w}", "passage_id": str(i)}],
            "hard_negative_ctxs": [{"title": "other", "text": f"unrelated {i}"}],
        }
        for i, w in enumerate(WORDS[:n])
    ]
    path = tmp_path / "dpr_train_data.json"
    path.write_text(json.dumps(items))
    return path


def test_paper_config_runs_on_tiny_stand_ins(tiny_bert_dir, tmp_path):
    job = load_training_config(REPO / "configs" / "finetune_xor_tydi.yaml")
    config = dict(job.config.to_dict(), batch_size=3, precision="fp32", device="cpu", max_steps=3)
    job = job.model_copy(
        update={
            "model_name_or_path": str(tiny_bert_dir),
            "data": job.data.model_copy(update={"path": str(tiny_dpr_file(tmp_path))}),
            "config": TrainingConfig.parse(config),
        }
    )
    result, held_out = run_training_job(job, output_dir=tmp_path / "out", progress=False)
    assert held_out is None and result.history["epoch"].tolist() == [1, 1, 2]  # 2 steps per epoch
    record = json.loads((result.output_dir / CHECKPOINT_FILE).read_text())
    assert (
        record["data"]["description"]["source"] == "dpr"
        and len(record["data"]["description"]["sha256"]) == 64
    )
    assert record["config"]["n_negatives"] == 7 and record["resolved"]["temperature"] == 1.0
    Encoder(str(result.output_dir), preset="dpr", cache_dir=False, progress=False).encode_queries(["q"])


def test_paper_config_with_placeholder_path_says_what_to_fill(tmp_path):
    job = load_training_config(REPO / "configs" / "finetune_xor_tydi.yaml")
    job = job.model_copy(update={"data": job.data.model_copy(update={"path": str(tmp_path / "missing.json")})})
    with pytest.raises(FileNotFoundError, match="fill in the path"):
        run_training_job(job, output_dir=tmp_path / "out", progress=False)


def test_main_trains_from_a_config_file(tiny_bert_dir, tmp_path, capsys):
    tiny_dpr_file(tmp_path)
    config = write_config(
        tmp_path,
        f"training:\n  model_name_or_path: {tiny_bert_dir}\n"
        "  data: {source: dpr, path: dpr_train_data.json}\n"  # relative to the config file
        "  preset: dpr\n  batch_size: 3\n  learning_rate: 1e-4\n  n_negatives: 1\n  device: cpu\n",
    )
    out = tmp_path / "ckpt"
    assert main(["--config", str(config), "--output-dir", str(out), "--quiet"]) == 0
    assert f"checkpoint: {out}" in capsys.readouterr().out
    assert main(["--config", str(config), "--output-dir", str(out), "--quiet"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert (
        main(
            ["--config", str(config), "--output-dir", str(out), "--quiet", "--overwrite", "--max-steps", "1"]
        )
        == 0
    )
    assert json.loads((out / CHECKPOINT_FILE).read_text())["loss"]["n_steps"] == 1
    bad = write_config(
        tmp_path, f"training:\n  model_name_or_path: {tiny_bert_dir}\n  data: {{source: xquad}}\n  epoch: 2\n"
    )
    assert main(["--config", str(bad), "--output-dir", str(tmp_path / "x")]) == 1
    assert "did you mean 'epochs'" in capsys.readouterr().err
