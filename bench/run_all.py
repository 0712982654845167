"""Run every benchmark of issue 6 and write ``bench/results/<date>-<host>.json`` and ``.md``.

    python bench/run_all.py            # full run (about 30-40 min on 2 busy cores)
    python bench/run_all.py --quick    # smaller sizes, a few minutes
    python bench/run_all.py --only alpha_grid,ann

Medians and ratios are measured in the same run (contenders interleaved where timings
are compared), on the machine described at the top of the results. Not part of the unit
tests. Needs the ``bench`` extra (sentence-transformers) and the data mirror for XQuAD
(``XQG_LAB_MIRROR``, default ``../shared/data`` next to the repository).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["encode", "metrics", "xor_recall", "alpha_grid", "generation", "ann", "augment_memory", "scaling", "warm_run"]


def _markdown(results: dict) -> str:
    from _common import markdown_table

    m = results["machine"]
    lines = [
        f"# xqg_lab benchmarks, {results['date']} on {m['host']}",
        "",
        f"- machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, "
        f"{m['memory_gb']} GB RAM, GPU: {m['gpu'] or 'none'}",
        f"- load average (1 min) at start: {m['load_average_1m']}, at end: {results['load_average_end']}"
        " (other jobs shared the machine; compare ratios, which are measured in the same run)",
        f"- software: Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), "
        f"faiss {m['faiss']}, numpy {m['numpy']}; {m['os']}",
        f"- mode: {'quick' if results['quick'] else 'full'}; total {results['seconds']:.0f} s"
        + "".join(f"; re-run {r['date']}: {', '.join(r['benchmarks'])}" for r in results.get("reruns", [])),
        "",
        "## Targets",
        "",
    ]
    targets = []
    for name, bench in results["benchmarks"].items():
        for t in bench.get("targets", []):
            met = {True: "met", False: "NOT met", None: "-"}[t["met"]]
            targets.append({"benchmark": name, "target": t["target"], "measured": t["measured"], "status": met})
    lines.append(markdown_table(targets))
    for name, bench in results["benchmarks"].items():
        lines += [f"## {bench.get('title', name)}", ""]
        if bench.get("measured_at"):
            lines += [f"measured {bench['measured_at']}, load average {bench.get('load_average_1m_at_start')} at its "
                      f"start, {bench.get('seconds', 0):.0f} s", ""]
        if "error" in bench:
            lines += ["```", bench["error"], "```", ""]
            continue
        lines.append(markdown_table(bench["rows"]))
        for key in ("checks", "setup"):
            if bench.get(key):
                lines.append(f"{key}: `{json.dumps(bench[key], ensure_ascii=False)}`\n")
        for note in bench.get("notes", []):
            lines.append(f"- {note}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (minutes, not half an hour)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder of the results files")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("XQG_LAB_MIRROR", str(HERE.parent.parent / "shared" / "data"))
    from _common import machine

    names = BENCHMARKS if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; valid: {', '.join(BENCHMARKS)}")
    started = time.perf_counter()
    results = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "benchmarks": {},
    }
    for name in names:
        print(f"== {name}", flush=True)
        load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        t0 = time.perf_counter()
        try:
            bench = importlib.import_module(f"bench_{name}").run(quick=args.quick)
        except Exception:  # keep the other benchmarks' numbers
            bench = {"title": name, "error": traceback.format_exc(), "rows": [], "targets": []}
        bench["seconds"] = time.perf_counter() - t0
        bench["measured_at"] = datetime.datetime.now().isoformat(timespec="seconds")
        bench["load_average_1m_at_start"] = load
        results["benchmarks"][name] = bench
        for row in bench["rows"]:
            print("  ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        for target in bench.get("targets", []):
            print(f"   target: {target['target']}: {target['measured']} ({target['met']})", flush=True)
    results["seconds"] = time.perf_counter() - started
    results["load_average_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.date.today().isoformat()}-{results['machine']['host']}{'-quick' if args.quick else ''}"
    previous = out / f"{stem}.json"
    if args.only and previous.exists():  # a partial re-run replaces those benchmarks only
        merged = json.loads(previous.read_text(encoding="utf-8"))
        merged["benchmarks"].update(results["benchmarks"])
        merged["benchmarks"] = {n: merged["benchmarks"][n] for n in BENCHMARKS if n in merged["benchmarks"]}
        merged["reruns"] = merged.get("reruns", []) + [{"date": results["date"], "benchmarks": names}]
        results = merged
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n")
    (out / f"{stem}.md").write_text(_markdown(results) + "\n")
    print(f"results: {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
