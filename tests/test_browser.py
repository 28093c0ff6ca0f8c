"""The lessons' widgets in a real browser: JupyterLab in Debian's Chromium, driven by Playwright.

For each lesson that shows a widget: open it (before running, each widget cell must show its picture,
not a widget's name or "Loading widget..."), run every cell, then check that each widget cell renders
a live widget view, that a control round-trips to the kernel (a click or a keystroke changes what the
kernel computes), and that the browser logged no error. Screenshots land in .artefacts/screenshots/.

The server is a real JupyterLab on 127.0.0.1 with a token, serving a copy of the lessons as git has
them (autosave off), so that nothing here changes notebooks/. Playwright's own browser download is
not used: Debian's /usr/bin/chromium (make test-deps installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from minicontainer.labserver import command_line

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / ".artefacts" / "screenshots"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Console errors that say nothing about the page: Chromium aborts the requests in flight whenever the
# host's network devices change, and the lessons (and any other test run on the host) add veths and
# bridges; JupyterLab simply asks again.
BENIGN = ("net::ERR_NETWORK_CHANGED",)
# Chromium in a closed network: no sync, no component updates, no background requests (they fail here)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def lessons_with_widgets() -> list[str]:
    """The lessons whose recorded outputs hold a widget view."""
    return [path.stem for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
            if WIDGET_MIME in path.read_text()]


def widget_cells(notebook: Path) -> list[int]:
    """Indexes of the cells whose recorded outputs hold a widget view."""
    cells = json.loads(notebook.read_text())["cells"]
    return [i for i, c in enumerate(cells) if c["cell_type"] == "code"
            and any(WIDGET_MIME in o.get("data", {}) for o in c.get("outputs", []))]


def copy_lessons_as_git_has_them(dest: Path) -> None:
    """notebooks/*.ipynb from git's index (what is committed, or staged by `make notebooks`) into dest;
    the working files where this is no git checkout. A learner's saved outputs do not count."""
    tracked = subprocess.run(["git", "ls-files", "-s", "--", "notebooks/*.ipynb"], cwd=ROOT,
                             capture_output=True, text=True)
    if tracked.returncode != 0 or not tracked.stdout:
        for nb in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"):
            shutil.copy(nb, dest / nb.name)
        return
    for line in tracked.stdout.splitlines():
        meta, path = line.split("\t", 1)
        blob = meta.split()[1]
        data = subprocess.run(["git", "cat-file", "blob", blob], cwd=ROOT, capture_output=True, check=True).stdout
        (dest / Path(path).name).write_bytes(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab serving a copy of the lessons as git has them: (base URL, token, served dir)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no {CHROMIUM}: the browser tests need Debian's chromium (make test-deps installs it)")
    served = tmp_path_factory.mktemp("lab")
    copy_lessons_as_git_has_them(served)
    settings = served.parent / f"{served.name}-settings"
    for plugin, values in {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},  # every cell in the page
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    token = os.urandom(16).hex()
    cmd = command_line(served, port, str(Path(sys.executable).parent / "jupyter")) + [
        f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={settings}/workspaces",
        ]
    env = dict(os.environ, MC_EXERCISES=str(ROOT / "solutions"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    log = open(served.parent / f"{served.name}-server.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    f"JupyterLab did not start: {Path(log.name).read_text()[-2000:]}"
                time.sleep(0.3)
        yield base, token, served
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, through Playwright (each launch has a new empty profile)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


# JavaScript run in the page: JupyterLab's application object (exposed by --LabApp.expose_app_in_browser)
STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = cells.flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
    .map(o => `${o.ename}: ${o.evalue}`));
  return {
    errors: errors,
    status: panel.sessionContext.kernelDisplayStatus,
    total: cells.length,
    pending: cells.filter(c => (c.promptNode && c.promptNode.textContent || '').includes('*')).length,
    unrun: cells.filter(c => c.model.executionCount === null).length,
  };
}"""


def cell(page, index: int):
    """The DOM node of cell `index` of the open notebook."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def run_all(page, timeout: float = 600) -> dict:
    """Run every cell and wait until each has run and the kernel is idle."""
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.kernelDisplayStatus === 'idle'",
                           timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(STATE_JS)
        if state and state["errors"]:
            raise AssertionError(f"a cell raised in the browser: {state['errors'][0]}")
        if state and state["status"] == "idle" and not state["pending"] and not state["unrun"]:
            return state
        time.sleep(0.5)
    raise AssertionError(f"the lesson did not finish running in {timeout:.0f} s: {state}")


def open_lesson(page, base: str, token: str, name: str) -> None:
    """Open the lesson alone (?reset: no restored workspace) and wait until its saved outputs are drawn."""
    page.goto(f"{base}/lab/tree/{name}.ipynb?reset&token={token}")
    page.wait_for_function("n => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                           " return w && w.context && w.context.path.endsWith(n) && w.context.isReady; }",
                           arg=f"{name}.ipynb", timeout=60_000)
    page.wait_for_timeout(2000)  # saved outputs render after the cells


def widget_text_problems(text: str) -> list[str]:
    """What a widget output must never show: a widget's Python name, or a renderer stuck or failing."""
    bad = [m.group(0) for m in re.finditer(r"(?:VBox|HBox|HTML|Image)\((?:children|value)=", text)]
    bad += [s for s in ("Loading widget", "Error displaying widget") if s in text]
    return bad


@pytest.mark.parametrize("name", lessons_with_widgets())
def test_lesson_widgets_render_and_talk_to_the_kernel(lab, browser, name):
    base, token, served = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    cells = widget_cells(served / f"{name}.ipynb")
    assert cells, f"{name}: no widget cell recorded"
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}")
            if m.type == "error" and not any(b in m.text for b in BENIGN) else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        open_lesson(page, base, token, name)
        # Before running: every widget cell shows a picture (the saved image/png), not a widget's name.
        for i in cells:
            node = cell(page, i)
            node.scroll_into_view_if_needed()
            text = node.locator(".jp-OutputArea").inner_text()
            assert not widget_text_problems(text), f"{name} cell {i} before running shows {widget_text_problems(text)}"
            assert node.locator(".jp-OutputArea-output img").count() >= 1, \
                f"{name} cell {i}: opened before running, the widget cell shows no picture"
            node.screenshot(path=str(SHOTS / f"{name}-cell{i}-before-run.png"))

        started = time.monotonic()
        run_all(page)
        run_time = time.monotonic() - started

        for i in cells:
            node = cell(page, i)
            node.scroll_into_view_if_needed()
            views = node.locator(".jp-OutputArea-output .jupyter-widgets")
            assert views.count() >= 1, f"{name} cell {i}: no live widget view after running (is the widget front end installed?)"
            text = node.locator(".jp-OutputArea").inner_text()
            assert not widget_text_problems(text), f"{name} cell {i} shows {widget_text_problems(text)}"
            node.screenshot(path=str(SHOTS / f"{name}-cell{i}.png"))

        round_trip(page, name, cells)
        page.screenshot(path=str(SHOTS / f"{name}-page.png"), full_page=False)
        print(f"{name}: ran in {run_time:.1f} s in the browser; {len(cells)} widget cell(s)")
        assert not errors, f"{name}: the browser logged errors: {errors[:5]}"
    finally:
        page.close()
        shut_down_kernels(base, token)


def shut_down_kernels(base: str, token: str) -> None:
    """Stop the lesson's kernel (closing the page leaves it running, with any thread it started)."""
    auth = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{base}/api/sessions", headers=auth), timeout=30) as r:
        sessions = json.load(r)
    for session in sessions:
        request = urllib.request.Request(f"{base}/api/sessions/{session['id']}", method="DELETE", headers=auth)
        urllib.request.urlopen(request, timeout=60).close()


def round_trip(page, name: str, cells: list[int]) -> None:
    """Use one control of the lesson's widget and see the kernel's answer in the page."""
    if name.startswith("02-"):  # the namespace explorer's Refresh: the container is gone by the end
        node = cell(page, cells[0])
        node.get_by_role("button", name="Refresh").click()
        page.wait_for_function("n => n.querySelector('.mc-status').innerText.includes('refresh 1')",
                               arg=node.element_handle(), timeout=30_000)
        assert "has exited" in node.inner_text()
    elif name.startswith("04-"):  # the layer view: a filter typed in the page, the kernel picks the rows
        node = cell(page, cells[0])
        before = node.locator(".mc-page").inner_text()
        box = node.locator("input[type='text']").first
        box.fill("bin/")
        box.press("Enter")
        page.wait_for_function("([n, b]) => n.querySelector('.mc-page').innerText !== b",
                               arg=[node.element_handle(), before], timeout=30_000)
        after = node.locator(".mc-page").inner_text()
        assert re.search(r"of \d+ matching", after) and after != before, after
        node.get_by_role("button", name="next").click()
        page.wait_for_function("n => n.querySelector('.mc-page').innerText.startsWith('paths 21')",
                               arg=node.element_handle(), timeout=30_000)
    elif name.startswith("07-"):  # the network picture's Refresh: the lesson removed its bridge
        node = cell(page, cells[0])
        node.get_by_role("button", name="Refresh").click()
        page.wait_for_function("n => n.querySelector('.mc-status').innerText.includes('refresh 1')",
                               arg=node.element_handle(), timeout=30_000)
    elif name.startswith("03-"):  # the resource monitor: the kernel's sampler thread drew the end of the run
        node = cell(page, cells[0])
        page.wait_for_function("n => n.innerText.includes('exited')", arg=node.element_handle(), timeout=60_000)
