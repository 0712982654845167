"""The notebooks as researchers use them: JupyterLab driven by a real headless Chromium.

Starts JupyterLab on 127.0.0.1 with a random token on copies of the notebooks (autosave off,
settings in a temporary folder), runs ``query_explorer`` and ``retrieval_eval`` (interactive
charts on) with Run All, clicks through the explorer, and opens a demo-like report from
``file://``. Every request to a host other than 127.0.0.1 fails the test. Screenshots and the
measured response times go to ``tests/artifacts/browser/`` (git-ignored).

Needs Debian's ``chromium`` (``/usr/bin/chromium``, or ``$XQG_LAB_CHROMIUM``) and the
``playwright`` package; ``.ci/run`` installs both and sets ``XQG_LAB_REQUIRE_BROWSER=1`` so that
a missing browser fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts" / "browser"
CHROMIUM = os.environ.get("XQG_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"data", "blob", "file", "about", "chrome-error"}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser():
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("XQG_LAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Timings:
    """Measured response times (seconds), logged and written to the artifacts, never asserted."""

    def __init__(self):
        self.values: dict[str, float] = {}

    def record(self, name: str, seconds: float) -> None:
        self.values[name] = round(seconds, 3)
        print(f"[browser] {name}: {seconds:.2f} s")

    def save(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "timings.json").write_text(json.dumps(self.values, indent=1))


@pytest.fixture(scope="module")
def timings():
    t = Timings()
    yield t
    t.save()


def _settings(folder: Path) -> None:
    """JupyterLab user settings: no autosave, no news fetching."""
    for plugin, values in {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on copies of the notebooks; yields (base URL, token, work folder)."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    work, settings = root / "work", root / "settings"
    work.mkdir()
    _settings(settings)
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }  # fmt: skip
    log = (root / "jupyterlab.log").open("w")
    # the server itself, not a shell: proc.pid is its PID; its own session, so its kernels can be found
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start within 120 s; see {log.name}:\n"
                                   + Path(log.name).read_text()[-3000:])  # fmt: skip
            time.sleep(1)
        yield base, token, work
    finally:
        _stop(proc, base, token)
        log.close()


def _stop(proc: subprocess.Popen, base: str, token: str) -> None:
    """Shut the server down (it stops its kernels), then make sure of it by its PID and
    process group, each wait bounded."""
    try:
        request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    try:  # kernels it started live in its process group (id = its PID)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, outside: list[str]):
    """A page that records every request to a host other than 127.0.0.1 into ``outside``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(60_000)

    def check(request):
        url = urlparse(request.url)
        if url.scheme not in LOCAL_SCHEMES and url.hostname not in LOCAL_HOSTS:
            outside.append(request.url)
            print(f"[browser] OUTSIDE REQUEST: {request.url}")

    page.on("request", check)
    return page


def _parameterized_copy(name: str, work: Path, parameters: dict) -> Path:
    """``notebooks/<name>.ipynb`` with papermill's injected-parameters cell, saved in ``work``."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(REPO / "notebooks" / f"{name}.ipynb")), parameters)
    target = work / f"{name}.ipynb"
    nbformat.write(nb, target)
    return target


PANEL = """(path) => {
    for (const w of window.jupyterapp.shell.widgets('main')) {
        if (w.context && w.context.path === path) return w;
    }
    return null;
}"""


def _run_all(page, base: str, token: str, notebook: str, timings: Timings, *, timeout_s: float = 600) -> list[dict]:
    """Open ``notebook`` in a fresh workspace, Run All, wait until every code cell ran;
    returns the cells' JSON."""
    find = f"window.jupyterapp && ({PANEL})({json.dumps(notebook)})"
    start = time.perf_counter()
    page.goto(f"{base}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?reset&token={token}", timeout=180_000)
    page.wait_for_function(
        f"() => {{ const w = {find}; const s = w && w.sessionContext.session;"
        " return !!(s && s.kernel && s.kernel.connectionStatus === 'connected' && w.content.widgets.length); }",
        timeout=180_000,
    )
    timings.record(f"{notebook}: open with a connected kernel", time.perf_counter() - start)
    start = time.perf_counter()
    page.evaluate(
        f"async () => {{ const w = {find}; window.jupyterapp.shell.activateById(w.id);"
        " await window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )
    page.wait_for_function(
        f"""() => {{
            const w = {find};
            const cells = w.content.model.cells;
            const counts = [];
            for (let i = 0; i < cells.length; i++) {{
                const c = cells.get(i);
                if (c.type === 'code') counts.push(c.executionCount);
            }}
            const running = [...w.content.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
            return !running && counts.every(n => n !== null && n > 0);
        }}""",
        timeout=timeout_s * 1000,
        polling=500,
    )
    timings.record(f"{notebook}: Run All", time.perf_counter() - start)
    page.wait_for_timeout(1000)  # let the last outputs render
    return page.evaluate(
        f"""() => {{
            const cells = ({find}).content.model.cells;
            const out = [];
            for (let i = 0; i < cells.length; i++) out.push(cells.get(i).toJSON());
            return out;
        }}"""
    )


def _errors(cells: list[dict]) -> list[str]:
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, c in enumerate(cells) for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]  # fmt: skip


def _shot(page, name: str, **kwargs) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    print(f"[browser] screenshot: {path}")
    return path


def _explorer_state(page) -> dict:
    """What the explorer shows now: passage id, language groups, query texts."""
    return page.evaluate(
        """() => {
            const root = document.querySelector('.xqg-explorer');
            if (!root) return null;
            const groups = [...root.querySelectorAll('div > b')].map(b => b.textContent);
            return {doc: root.querySelector('code').textContent, groups: groups, text: root.innerText};
        }"""
    )


def test_query_explorer_runs_and_responds_in_jupyterlab(jupyterlab, browser, tiny_bert_dir, timings):
    base, token, work = jupyterlab
    _parameterized_copy("query_explorer", work, {
        "encoder": str(tiny_bert_dir), "preset": "dpr", "langs": ["en", "de", "zh", "ar"],
        "output_dir": str(work / "out"),
    })  # fmt: skip
    outside: list[str] = []
    page = _page(browser, outside)
    cells = _run_all(page, base, token, "query_explorer.ipynb", timings)
    assert _errors(cells) == []
    page.wait_for_selector(".xqg-explorer", timeout=60_000)
    body = page.inner_text(".jp-Notebook")
    assert "Error displaying widget" not in body and "Error rendering" not in body
    assert "VBox(" not in body  # the widget, not its text repr

    before = _explorer_state(page)
    assert before["groups"], "the explorer lists no language group"
    page.locator(".xqg-passage").evaluate("e => e.closest('.jp-OutputArea').scrollIntoView({block: 'start'})")
    _shot(page, "explorer")

    # another passage: the shown passage and its queries change
    picker = page.locator(".xqg-passage")
    options = picker.locator("option").all_inner_texts()
    other = next(o for o in options if not o.startswith(before["doc"] + " "))
    start = time.perf_counter()
    picker.select_option(label=other)
    page.wait_for_function("doc => document.querySelector('.xqg-explorer code').textContent !== doc", arg=before["doc"])
    timings.record("explorer: choose another passage", time.perf_counter() - start)
    after = _explorer_state(page)
    assert after["doc"] != before["doc"] and after["text"] != before["text"]

    # one language: only its queries remain
    languages = page.locator(".xqg-langs")
    shown = languages.locator("option").all_inner_texts()
    assert len(shown) >= 4 and {"de", "zh"} <= set(shown)  # every language, none hidden
    start = time.perf_counter()
    languages.select_option(["zh"])
    groups = "() => [...document.querySelectorAll('.xqg-explorer div > b')].map(b => b.textContent)"
    page.wait_for_function(f"() => ({groups})().join() === 'zh'")
    timings.record("explorer: filter to one language", time.perf_counter() - start)
    filtered = _explorer_state(page)
    assert filtered["groups"] == ["zh"] and filtered["text"] != after["text"]

    # keyboard: arrow keys in the lists (JupyterLab's cell shortcuts must not take them)
    start = time.perf_counter()
    languages.focus()
    page.keyboard.press("ArrowUp")
    page.wait_for_function(f"() => {{ const g = ({groups})(); return g.length === 1 && g[0] !== 'zh'; }}")
    timings.record("explorer: arrow key in the language list", time.perf_counter() - start)
    shown_doc = _explorer_state(page)["doc"]
    picker.focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_function("doc => document.querySelector('.xqg-explorer code').textContent !== doc", arg=shown_doc)
    page.locator(".xqg-passage").evaluate("e => e.closest('.jp-OutputArea').scrollIntoView({block: 'start'})")
    _shot(page, "explorer_filtered")
    assert outside == [], f"requests to other hosts: {outside}"
    assert not list((REPO / "notebooks").glob("*.csv")), "the notebook wrote into notebooks/"
    page.close()


def test_interactive_chart_renders_offline_in_jupyterlab(jupyterlab, browser, tiny_bert_dir, tmp_path, timings):
    base, token, work = jupyterlab
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    docs = [("d1", "Fox", "the quick brown fox"), ("d2", "Dog", "the lazy dog"), ("d3", "Tokyo", "東京は日本の首都です")]
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": t, "text": x}, ensure_ascii=False) + "\n" for i, t, x in docs
    ))  # fmt: skip
    (folder / "queries.jsonl").write_text("".join(
        json.dumps({"_id": i, "text": x}, ensure_ascii=False) + "\n" for i, x in [("q1", "fox"), ("q2", "dog"), ("q3", "首都")]
    ))  # fmt: skip
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    _parameterized_copy("retrieval_eval", work, {
        "dataset": f"beir:{folder}", "encoder": str(tiny_bert_dir), "preset": "dpr", "k": 3, "batch_size": 2,
        "interactive_charts": True, "output_dir": str(work / "out"),
    })  # fmt: skip
    outside: list[str] = []
    page = _page(browser, outside)
    cells = _run_all(page, base, token, "retrieval_eval.ipynb", timings)
    assert _errors(cells) == []
    assert (work / "out" / "retrieval_by_lang.csv").is_file() and not list(work.glob("*.csv"))  # its output folder
    start = time.perf_counter()
    try:
        page.wait_for_selector(".vega-embed canvas, .vega-embed svg.marks", timeout=60_000)
    finally:
        _shot(page, "interactive_chart", full_page=True)
        text = page.inner_text(".jp-Notebook")
        assert outside == [], f"requests to other hosts: {outside}"
        assert "Error loading script" not in text and "JavaScript Error" not in text
    timings.record("retrieval_eval: interactive chart drawn", time.perf_counter() - start)
    chart = page.locator(".vega-embed").first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    _shot(page, "interactive_chart_cell", clip=box)
    # a tooltip appears when the pointer is over a bar (searched on a grid over the chart)
    start = time.perf_counter()
    found = False
    for y in range(int(box["y"] + 40), int(box["y"] + box["height"] - 20), 12):
        for x in range(int(box["x"] + 20), int(box["x"] + box["width"] - 20), 8):
            page.mouse.move(x, y)
            if page.locator("#vg-tooltip-element.visible").count():
                found = True
                break
        if found:
            break
    timings.record("retrieval_eval: pointer search until a tooltip shows", time.perf_counter() - start)
    assert found, "no tooltip over the chart"
    _shot(page, "interactive_chart_tooltip", clip={**box, "height": box["height"] + 80})
    page.close()


def test_report_from_file_url_has_no_broken_images_and_no_outside_requests(browser, tmp_path):
    _require_browser()
    from test_headlines import demo_like_run

    from xqg_lab.runner.index_page import write_index

    run_dir, manifest = demo_like_run(tmp_path / "demo")
    write_index(run_dir, manifest)
    outside: list[str] = []
    page = _page(browser, outside)
    page.goto((run_dir / "index.html").as_uri())
    page.wait_for_load_state("load")
    broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    n_images = page.evaluate("() => document.images.length")
    _shot(page, "report_index", full_page=True)
    assert n_images >= 3 and broken == []
    assert page.locator("#headlines table").count() == 4
    assert outside == [], f"requests to other hosts: {outside}"
    page.close()
