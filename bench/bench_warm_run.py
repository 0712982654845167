"""A no-op re-run of ``xqg-lab run``: every notebook's inputs unchanged, so every notebook is
reused from the previous run instead of executed (issue 15, item 2).

Target: a re-run where nothing changed takes ≤ 20 s on 2 cores. Measured as the user runs it:
the ``xqg-lab run`` command in a fresh process (Python start, imports, hashing the toolkit,
the data files and the previous outputs, copying them into the staging folder, the index).
The first run (executing every notebook, with whatever the cache already holds) is timed
for context; the full run also times a ``--force`` run (every notebook executed on a warm
cache).

    python bench/bench_warm_run.py [--quick] [--config configs/demo.yaml]
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


def xqg_lab_run(config: Path, reports: Path, *extra: str) -> tuple[float, dict]:
    """Seconds of one ``xqg-lab run`` in a fresh process, and the manifest it wrote."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "xqg_lab", "run", str(config), "--reports-dir", str(reports), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"xqg-lab run {config} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    (run_dir,) = [p for p in reports.iterdir() if not p.name.startswith(".")]
    return seconds, json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def run(*, quick: bool, config: str | None = None) -> dict:
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
    all_reused = all(set(s) == {"reused"} for s in statuses)
    targets = [{"target": "no-op re-run ≤ 20 s", "measured": f"{median(noop):.1f} s", "met": median(noop) <= 20 and all_reused}]
    if forced is not None:
        targets.append({"target": "warm demo (--force: every notebook executed, everything cached) ≤ 60 s",
                        "measured": f"{forced:.1f} s", "met": forced <= 60})
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
    args = parser.parse_args()
    os.environ.setdefault("XQG_LAB_MIRROR", str(ROOT.parent / "shared" / "data"))
    print(json.dumps(run(quick=args.quick, config=args.config), indent=1, ensure_ascii=False))
