"""The command line ``xqg-lab shards {encode,encode-queries,generate,status}``."""

from __future__ import annotations

from collections.abc import Sequence

from xqg_lab.scale import Backend, ScaleConfig
from xqg_lab.scale.shards.generation import generate_query_shards
from xqg_lab.scale.shards.passages import encode_passage_shards
from xqg_lab.scale.shards.query_sums import encode_query_sum_shards
from xqg_lab.scale.shards.store import ShardStore


def _encoder_kwargs(args) -> dict:
    kwargs = {"model_name_or_path": args.encoder, "preset": args.preset, "batch_size": args.batch_size}
    if args.device:
        kwargs["device"] = args.device
    if args.model_fp16:
        kwargs["fp16"] = True
    return kwargs


def _generator_factory(args):
    """A picklable factory of the generator named on the command line (built in each worker)."""
    import functools

    from xqg_lab.generate import make_generator

    kwargs = {"batch_size": args.batch_size}
    if args.device:
        kwargs["device"] = args.device
    positional = (args.model,) if args.model else ()
    return functools.partial(make_generator, args.generator, *positional, **kwargs)


def _scale(args) -> ScaleConfig:
    """The ``scale`` section of ``--config`` (defaults without one), overridden by the
    ``--backend`` / Ray flags given on the command line."""
    from xqg_lab.core.config import ConfigError, read_yaml
    from xqg_lab.core.validation import check_keys

    scale = ScaleConfig()
    if args.config:
        raw = read_yaml(args.config) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{args.config}: expected a mapping at the top level, found {type(raw).__name__}")
        check_keys(raw, ["scale"], where=args.config)
        try:
            scale = ScaleConfig.parse(raw.get("scale"))
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}") from None
    flags = {
        "address": args.ray_address,
        "num_workers": args.num_workers,
        "num_cpus_per_worker": args.cpus_per_worker,
        "num_gpus_per_worker": args.gpus_per_worker,
    }
    return ScaleConfig.parse({
        "backend": args.backend or scale.backend.value,
        "ray": {**scale.ray.model_dump(), **{k: v for k, v in flags.items() if v is not None}},
    })


def _add_common(parser, *, encoder: bool = True) -> None:
    parser.add_argument("--out", required=True, help="store folder (shared by all workers)")
    if encoder:
        parser.add_argument("--encoder", required=True, help="model name, folder or embedded:multilingual-e5-small")
        parser.add_argument("--preset", default="e5", help="encoder preset: e5 or dpr (default e5)")
        parser.add_argument("--model-fp16", action="store_true", help="run the model in half precision (CUDA only)")
    parser.add_argument("--batch-size", type=int, default=64 if encoder else 16, help="texts per forward pass")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--shard-index", type=int, default=0, help="this worker's number, from 0")
    parser.add_argument("--num-shards", type=int, default=1, help="number of workers sharing the shards")
    parser.add_argument("--config", default=None,
                        help="YAML file with a 'scale: {backend: local|ray, ray: {address, num_workers, "
                             "num_cpus_per_worker, num_gpus_per_worker, local_num_cpus}}' section; the "
                             "flags below override it when given")
    parser.add_argument("--backend", default=None, choices=[b.value for b in Backend],
                        help="where the shards run (default: the config's, else local)")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address ('auto' for the running one)")
    parser.add_argument("--num-workers", type=int, default=None, help="Ray actors, one model each (default 1)")
    parser.add_argument("--cpus-per-worker", type=float, default=None, help="CPUs reserved per Ray actor (default 1)")
    parser.add_argument("--gpus-per-worker", type=float, default=None, help="GPUs reserved per Ray actor (default 0)")
    parser.add_argument("--no-verify", action="store_true", help="skip finished shards by size, not checksum")


def main(argv: Sequence[str] | None = None) -> int:
    """``xqg-lab shards {encode,encode-queries,generate,status} ...``; returns the exit status."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="xqg-lab shards", description="Sharded, resumable corpus processing.")
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="encode a corpus into passage-embedding shards")
    enc.add_argument("--corpus", required=True, help="DPR-style TSV (id, text, title) or BEIR corpus")
    enc.add_argument("--shard-size", type=int, required=True, help="passages per shard")
    enc.add_argument("--fp16", action="store_true", help="store float16 vectors (default float32)")
    _add_common(enc)
    qry = sub.add_parser("encode-queries", help="sum the vectors of generated queries per passage and shard")
    qry.add_argument("--queries", required=True, help="Parquet file/folder with doc_id, lang, text; or 'store'")
    qry.add_argument("--langs", required=True, help="comma-separated languages to sum, e.g. ar,bn,fi,ja,ko,ru,te")
    qry.add_argument("--name", default="all", help="name of this sum (default 'all')")
    _add_common(qry)
    gen = sub.add_parser("generate", help="generate queries for every passage, shard by shard")
    gen.add_argument("--corpus", required=True, help="DPR-style TSV (id, text, title) or BEIR corpus")
    gen.add_argument("--shard-size", type=int, required=True, help="passages per shard")
    gen.add_argument("--generator", default="seq2seq", help="xqg_lab.generate registry name (default seq2seq)")
    gen.add_argument("--model", default=None, help="generator model name or folder (seq2seq, causal)")
    gen.add_argument("--langs", required=True, help="comma-separated target languages, e.g. ar,bn,fi,ja,ko,ru,te")
    gen.add_argument("--n-per-lang", type=int, default=5, help="queries per passage and language (default 5)")
    gen.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    _add_common(gen, encoder=False)
    st = sub.add_parser("status", help="which shards are done")
    st.add_argument("--out", required=True, help="store folder")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "status":
            print(ShardStore(args.out).status().to_string(index=False))
            return 0
        scale = _scale(args)
        common = dict(
            shard_index=args.shard_index,
            num_shards=args.num_shards,
            backend=scale.backend,
            ray_options=scale.ray,
            verify=not args.no_verify,
        )
        if args.command == "generate":
            summary = generate_query_shards(
                args.corpus, args.out, generator=_generator_factory(args),
                langs=[x for x in args.langs.split(",") if x], n_per_lang=args.n_per_lang, seed=args.seed,
                shard_size=args.shard_size, **common,
            )
        elif args.command == "encode":
            common["encoder"] = _encoder_kwargs(args)
            summary = encode_passage_shards(
                args.corpus, args.out, shard_size=args.shard_size,
                dtype="float16" if args.fp16 else "float32", **common,
            )
        else:
            common["encoder"] = _encoder_kwargs(args)
            summary = encode_query_sum_shards(
                args.out, args.queries, langs=[x for x in args.langs.split(",") if x], name=args.name, **common
            )
    except (ValueError, FileNotFoundError, PermissionError, TypeError) as exc:
        print(f"xqg-lab shards: {exc}", file=sys.stderr)
        return 1
    counts = summary["status"].value_counts().to_dict()
    print(
        f"{len(summary)} shards: {counts.get('done', 0)} done now, {counts.get('skipped', 0)} already done "
        f"({int(summary['n'].sum())} passages) in {args.out}"
    )
    return 0
