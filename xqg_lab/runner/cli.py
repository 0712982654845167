"""The ``xqg-lab`` command (also ``python -m xqg_lab``).

    xqg-lab run configs/demo.yaml          run a config's notebooks into reports/<run>/
    xqg-lab score-xor --data_file D --pred_file P [--json]
                                           the official XOR-Retrieve R@2kt/R@5kt scorer
    xqg-lab train --config configs/finetune_xquad_demo.yaml --output-dir DIR
                                           contrastive fine-tuning of a bi-encoder (xDR)
    xqg-lab shards encode --corpus X.tsv --encoder M --out DIR --shard-size N
                                           sharded, resumable corpus encoding (also
                                           encode-queries, status; --help for options)
"""

from __future__ import annotations

import argparse
import sys


def check_reports_dir(path: str) -> None:
    """Refuse a ``--reports-dir`` that is not a writable folder (a file, a read-only place),
    before any notebook runs; creates the folder when it does not exist yet."""
    import tempfile
    from pathlib import Path

    from xqg_lab.core.config import ConfigError

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"expected --reports-dir to be a folder, found a file: {folder}; fix: pass a folder, e.g. --reports-dir reports")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(
            f"expected --reports-dir to be a writable folder, found {folder} not writable ({exc.strerror}); "
            "fix: pass a folder you can write to, e.g. --reports-dir ~/xqg-reports"
        ) from None


def check_kernel(name: str | None) -> None:
    """Refuse a ``--kernel`` that Jupyter does not know, listing the installed kernels."""
    if name is None:
        return
    from jupyter_client.kernelspec import KernelSpecManager

    from xqg_lab.core.config import ConfigError

    known = sorted(KernelSpecManager().find_kernel_specs())
    if name not in known:
        raise ConfigError(
            f"expected --kernel to be an installed Jupyter kernel ({', '.join(known) or 'none installed'}), "
            f"found {name!r}; fix: pick one of those, or install it (`python -m ipykernel install --user --name {name}`)"
        )


def _run(argv: list[str]) -> int:
    from xqg_lab.runner.deferred_imports import defer_rfc3987_syntax

    defer_rfc3987_syntax()  # before papermill imports nbformat and jsonschema
    from xqg_lab.core.config import ConfigError, load_config
    from xqg_lab.runner.run import RunFailed, run_config

    parser = argparse.ArgumentParser(
        prog="xqg-lab run", description="Run the notebooks of a config file.",
        epilog="A notebook whose inputs are unchanged since the previous run in the same folder is reused, "
               "not executed again; --force re-executes.",
    )
    parser.add_argument("config", help="YAML config file, e.g. configs/demo.yaml")
    parser.add_argument("--reports-dir", default="reports", help="parent folder of the run folder")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    parser.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                        help="fail a cell whose kernel gives no answer for this long (default: the config's "
                             "cell_timeout, else 1800)")
    parser.add_argument("--force", nargs="?", const="*", action="append", metavar="NOTEBOOK",
                        help="execute every notebook (or only NOTEBOOK; repeatable) even when its previous "
                             "outputs could be reused")
    parser.add_argument("--allow-external-notebooks", action="store_true",
                        help="run notebooks from outside notebooks/ (a config file runs code)")
    args = parser.parse_args(_config_after_bare_force(argv))
    force = True if args.force and "*" in args.force else (args.force or False)
    try:
        config = load_config(args.config)
        check_reports_dir(args.reports_dir)
        check_kernel(args.kernel)
        run_dir = run_config(
            config, reports_dir=args.reports_dir, kernel_name=args.kernel,
            cell_timeout=args.cell_timeout, force=force, allow_external_notebooks=args.allow_external_notebooks,
        )
    except (ConfigError, RunFailed) as exc:
        print(f"xqg-lab: {exc}", file=sys.stderr)
        return 1
    print(f"report: {run_dir / 'index.html'}")
    return 0


def _config_after_bare_force(argv: list[str]) -> list[str]:
    """``--force configs/x.yaml`` means "force all, config x.yaml": a YAML file is never a
    notebook name, so move it after ``--force=*``."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--force" and out[i + 1].endswith((".yaml", ".yml")):
            out[i : i + 2] = ["--force=*", out[i + 1]]
    return out


def _train(argv: list[str]) -> int:
    from xqg_lab.train import main

    return main(argv)


def _shards(argv: list[str]) -> int:
    from xqg_lab.scale.shards import main

    return main(argv)


def _score_xor(argv: list[str]) -> int:
    from xqg_lab.metrics.xor_retrieve import main

    return main(argv)


COMMANDS = {"run": _run, "score-xor": _score_xor, "train": _train, "shards": _shards}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in {"-h", "--help"} else sys.stdout)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
