"""A no-op re-run of ``xqg-lab run``: every notebook's inputs unchanged, so every notebook is
reused from the previous run instead of executed (issue 15, item 2).

Target: a re-run where nothing changed takes ≤ 20 s on 2 cores. Measured as the user runs it:
the ``xqg-lab run`` command in a fresh process (Python start, imports, hashing the toolkit,
the data files and the previous outputs, copying them into the staging folder, the index).
The first run (executing every notebook, with whatever the cache already holds) is timed
for context; the full run also times a ``--force`` run (every notebook executed on a warm
cache). ``--baseline DIR`` times the same ``--force`` run from another checkout (e.g. ``git
worktree add /tmp/base <commit>``) in the same run, on the same cache, alternating with this
one, and reports the ratio.

    python bench/bench_warm_run.py [--quick] [--config configs/demo.yaml] [--baseline DIR [--rounds N]]
    # --quick: configs/alignment_demo.yaml (one notebook) instead of the whole demo
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median

ROOT = Path(__file__).resolve().parents[1]


def xqg_lab_run(config: Path, reports: Path, *extra: str, checkout: Path = ROOT) -> tuple[float, dict]:
    """Seconds of one ``xqg-lab run`` of ``checkout``'s toolkit in a fresh process, and the
    manifest it wrote."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "xqg_lab", "run", str(config), "--reports-dir", str(reports), *extra],
        cwd=checkout, capture_output=True, text=True, timeout=3600,
        env={**os.environ, "PYTHONPATH": str(checkout)},
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"xqg-lab run {config} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    (run_dir,) = [p for p in reports.iterdir() if not p.name.startswith(".")]
    return seconds, json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def commit_of(checkout: Path) -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=checkout, capture_output=True, text=True, timeout=60)
    return out.stdout.strip()[:100]


def against_baseline(config: str, baseline: Path, rounds: int) -> tuple[list[dict], list[dict]]:
    """``--force`` runs of this checkout and of ``baseline`` on the same warm cache, alternating
    (after one run of each that fills the cache with what each reads)."""
    times = {"this": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="bench-warm-base-") as folder:
        checkouts = {"this": ROOT, "baseline": baseline}
        for name, checkout in checkouts.items():
            xqg_lab_run(checkout / config, Path(folder) / name, checkout=checkout)
        for _ in range(rounds):
            for name, checkout in checkouts.items():
                times[name].append(xqg_lab_run(checkout / config, Path(folder) / name, "--force", checkout=checkout)[0])
    this, base = median(times["this"]), median(times["baseline"])
    rows = [{"run": f"--force re-run on a warm cache, this checkout ({commit_of(ROOT)})", "seconds": this, "runs": rounds},
            {"run": f"--force re-run on a warm cache, baseline ({commit_of(baseline)})", "seconds": base, "runs": rounds}]
    target = {"target": "warm demo: this checkout against the baseline", "measured": f"{base / this:.2f}x faster "
              f"({base:.1f} s -> {this:.1f} s, median of {rounds})", "met": this < base}
    return rows, [target]


def run(*, quick: bool, config: str | None = None, baseline: Path | None = None, rounds: int = 2) -> dict:
    config_path = ROOT / (config or ("configs/alignment_demo.yaml" if quick else "configs/demo.yaml"))
    repeats = 3
    with tempfile.TemporaryDirectory(prefix="bench-warm-run-") as folder:
        reports = Path(folder)
        first, manifest = xqg_lab_run(config_path, reports)
        noop, statuses, reruns = [], [], []
        for _ in range(repeats):
            seconds, manifest = xqg_lab_run(config_path, reports)
            noop.append(seconds)
            statuses.append([n["status"] for n in manifest["notebooks"]])
            reruns.append({"seconds": round(seconds, 2), "statuses": statuses[-1],
                           "executed_because": [n.get("executed_because") for n in manifest["notebooks"]]})
        forced = None
        if not quick:
            forced, _ = xqg_lab_run(config_path, reports, "--force")
    rows = [{"run": "first run (executes every notebook)", "seconds": first, "runs": 1},
            {"run": "no-op re-run (every notebook reused)", "seconds": median(noop), "runs": len(noop)}]
    if forced is not None:
        rows.append({"run": "--force re-run on a warm cache (every notebook executed)", "seconds": forced, "runs": 1})
    if baseline is not None:
        base_rows, base_targets = against_baseline(str(config_path.relative_to(ROOT)), baseline, rounds)
        rows += base_rows
    all_reused = all(set(s) == {"reused"} for s in statuses)
    targets = [{"target": "no-op re-run ≤ 20 s", "measured": f"{median(noop):.1f} s", "met": median(noop) <= 20 and all_reused}]
    if forced is not None:
        targets.append({"target": "warm demo (--force: every notebook executed, everything cached) ≤ 60 s",
                        "measured": f"{forced:.1f} s", "met": forced <= 60})
    if baseline is not None:
        targets += base_targets
    return {
        "title": f"xqg-lab run re-run where nothing changed: {config_path.relative_to(ROOT)}",
        "setup": {"config": str(config_path.relative_to(ROOT)), "notebooks": [n["notebook"] for n in manifest["notebooks"]],
                  "cache": os.environ.get("XQG_LAB_CACHE"), "mirror": os.environ.get("XQG_LAB_MIRROR")},
        "rows": rows,
        "checks": {"every_notebook_reused": all_reused, "reruns": reruns},
        "targets": targets,
        "notes": ["the first run's time depends on what the shared cache already held"],
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="configs/alignment_demo.yaml instead of the demo")
    parser.add_argument("--config", default=None, help="another config file (relative to the checkout)")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout of xqg_lab to time against")
    parser.add_argument("--rounds", type=int, default=2, help="--force runs of each checkout against the baseline")
    args = parser.parse_args()
    os.environ.setdefault("XQG_LAB_MIRROR", str(ROOT.parent / "shared" / "data"))
    print(json.dumps(run(quick=args.quick, config=args.config, baseline=args.baseline, rounds=args.rounds),
                     indent=1, ensure_ascii=False))
