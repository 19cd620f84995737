"""JupyterLab in headless Chromium, for tests/test_browser_lab.py.

Three parts: a JupyterLab server on loopback with its own, throw-away Jupyter state
(``start_lab``); Debian's Chromium driven by Playwright with a fresh profile
(``launch_chromium``); and ``LabNotebook``, the steps on one open notebook (wait for the
kernel, run all cells, read the notebook model, fingerprint the widget outputs, change a
control). The page-side helpers are in ``PAGE_HELPERS`` and talk to JupyterLab through
``window.jupyterapp``, which the server exposes with ``--LabApp.expose_app_in_browser``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from cityanalytics.lab import ensure_kernel, lab_command

CHROMIUM = Path("/usr/bin/chromium")
# No internet here: without the networking flags Chromium keeps retrying refused connections.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 1000}

# User settings for the test server. Autosave off: run-all fills the notebook with outputs,
# which must never be written back to notebooks/ (they are committed clean).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
}


# --- server --------------------------------------------------------------------------------

@dataclass
class LabServer:
    """A running JupyterLab: its URL, token, process and the directory holding its state."""

    url: str
    token: str
    process: subprocess.Popen
    state: Path
    log: Path
    started_in: float = 0.0

    def api(self, path: str, method: str = "GET", timeout: float = 10) -> object:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        """Shut the kernels down through the API, then the server (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            try:
                for session in self.api("/api/sessions"):
                    self.api(f"/api/sessions/{session['id']}", method="DELETE", timeout=timeout)
            except (OSError, urllib.error.URLError):
                pass  # the server is going away anyway; SIGTERM also shuts kernels down
        stop_process(self.process, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(state: Path) -> dict:
    """Variables that put Jupyter's and IPython's state in ``state`` instead of the user's
    (config, kernels and notebook signatures, runtime files, lab settings and workspaces)."""
    dirs = {
        "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings", "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    for name in dirs.values():
        (state / name).mkdir(parents=True, exist_ok=True)
    for name, values in LAB_SETTINGS.items():
        path = state / "lab-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    return {var: str(state / name) for var, name in dirs.items()}


def start_lab(state: Path, cwd: Path, timeout: float = 120) -> LabServer:
    """Register the project kernel, start JupyterLab on a free loopback port and wait until
    its API answers."""
    overrides = isolated_env(state)
    with mock.patch.dict(os.environ, overrides):
        ensure_kernel()  # looks where the server will look: the user's kernels are hidden
    env = {**os.environ, **overrides, "PYTHONUNBUFFERED": "1"}
    env.pop("CITYANALYTICS_REPORT", None)  # a report run would make no widgets
    port, token = free_port(), secrets.token_hex(16)
    cmd = lab_command(port=port, token=token, browser=False, extra=[
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",  # fail rather than serve on a port the test does not know
        "--ServerApp.terminals_enabled=False",
        # JupyterLab makes a checkpoint when it opens a notebook: keep it out of notebooks/
        f"--FileCheckpoints.checkpoint_dir={state / 'checkpoints'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ])
    log = state / "jupyterlab.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = LabServer(f"http://127.0.0.1:{port}", token, process, state, log)
    try:
        wait_for_api(server, timeout)
    except BaseException:
        server.stop()
        raise
    server.started_in = time.perf_counter() - started
    return server


def wait_for_api(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            server.api("/api/status", timeout=2)
            return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}")
            time.sleep(0.25)  # polling a socket: there is no event to wait for


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


# --- browser -------------------------------------------------------------------------------

def launch_chromium(playwright, profile: Path):
    """A persistent Chromium context on a fresh profile, with the page helpers installed."""
    context = playwright.chromium.launch_persistent_context(
        user_data_dir=str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport=VIEWPORT)
    context.add_init_script(PAGE_HELPERS)
    return context


# Installed in every page as window.__labTest. Each function takes the notebook's path
# relative to the server root and finds its panel among the main-area widgets.
PAGE_HELPERS = r"""
window.__labTest = {
  panel(path) {
    const app = window.jupyterapp;
    if (!app || !app.shell) return null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
    }
    return null;
  },
  kernelStatus(path) {
    const p = this.panel(path);
    const kernel = p && p.sessionContext.session && p.sessionContext.session.kernel;
    return kernel ? kernel.status : null;
  },
  ready(path) {
    const p = this.panel(path);
    return !!(p && p.context.isReady && p.sessionContext.isReady && this.kernelStatus(path) === 'idle'
              && p.content.widgets.length > 0);
  },
  progress(path) {
    const p = this.panel(path);
    const cells = p.content.model.toJSON().cells;
    const code = cells.map((c, i) => [c, i]).filter(([c]) => c.cell_type === 'code');
    const errors = [], stderr = [];
    for (const [c, i] of code) {
      for (const o of c.outputs || []) {
        if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: o.evalue});
        if (o.output_type === 'stream' && o.name === 'stderr') {
          stderr.push({cell: i, text: [].concat(o.text).join('')});
        }
      }
    }
    return {codeCells: code.length, executed: code.filter(([c]) => c.execution_count != null).length,
            errors, stderr, kernel: this.kernelStatus(path)};
  },
  // Run All has finished: the kernel is idle and every code cell ran, or one failed (the
  // kernel then drops the queued cells, which keep no execution count).
  runFinished(path) {
    const s = this.progress(path);
    return s.kernel === 'idle' && (s.executed === s.codeCells || s.errors.length > 0);
  },
  hash(text) {  // FNV-1a, enough to tell outputs apart
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    return (h >>> 0).toString(16) + ':' + text.length;
  },
  // One entry per ipywidgets Output (a report section): its text and its images.
  fingerprint(path) {
    const p = this.panel(path);
    return Array.from(p.node.querySelectorAll('.widget-output'), el => {
      const images = Array.from(el.querySelectorAll('img'), img => img.getAttribute('src') || '').join('|');
      return this.hash(el.textContent + '\u0000' + images);
    });
  },
  outputsChanged(path, before) {
    return this.changedSections(path, before).length > 0;
  },
  changedSections(path, before) {
    const now = this.fingerprint(path);
    return now.map((h, i) => h !== before[i] ? i : -1).filter(i => i >= 0)
      .concat(now.length !== before.length ? ['count ' + before.length + ' -> ' + now.length] : []);
  },
};
"""


# --- one notebook --------------------------------------------------------------------------

@dataclass
class LabNotebook:
    """One notebook open in a page of the test browser."""

    page: object
    path: str  # relative to the server root, e.g. notebooks/district_comparison.ipynb
    page_errors: list = field(default_factory=list)

    @classmethod
    def open(cls, context, server: LabServer, path: str, timeout: float) -> "LabNotebook":
        """Open ``path`` in its own workspace (so no other notebook is restored with it) and
        wait until its kernel is idle."""
        page = context.new_page()
        notebook = cls(page, path)
        page.on("pageerror", lambda exc: notebook.page_errors.append(str(exc)))
        workspace = Path(path).stem
        page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{path}?reset&token={server.token}",
                  wait_until="domcontentloaded", timeout=timeout * 1000)
        notebook.wait_for("ready", timeout)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # more room for the notebook
        return notebook

    def call(self, helper: str, *args):
        return self.page.evaluate(f"([path, args]) => window.__labTest.{helper}(path, ...args)", [self.path, args])

    def wait_for(self, helper: str, timeout: float, *args, polling: int = 250) -> None:
        self.page.wait_for_function(f"([path, args]) => window.__labTest.{helper}(path, ...args)",
                                    arg=[self.path, args], timeout=timeout * 1000, polling=polling)

    def run_all(self, timeout: float) -> dict:
        """Clear the outputs, run all cells and wait until the run finished; returns progress."""
        self.page.evaluate("""async (path) => {
            const app = window.jupyterapp;
            app.shell.activateById(window.__labTest.panel(path).id);
            await app.commands.execute('notebook:clear-all-cell-outputs');
            app.commands.execute('notebook:run-all-cells');  // not awaited: polled below
        }""", self.path)
        self.wait_for("runFinished", timeout, polling=500)
        return self.call("progress")

    def page_text(self) -> str:
        return self.page.evaluate("() => document.body.textContent")

    def controls(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .ca-controls").first

    def status(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .ca-status").first

    def scroll_to_controls(self) -> None:
        """Scroll the notebook so that the control bar (with its frame) is at the top of the view."""
        self.controls().evaluate("el => (el.closest('.jp-OutputArea-output') || el).scrollIntoView({block: 'start'})")

    def screenshot(self, path: Path) -> None:
        self.scroll_to_controls()
        self.page.screenshot(path=str(path), animations="disabled")

    def screenshot_figure(self, path: Path) -> bool:
        """Scroll the first figure of a report section into view and take a screenshot; False
        when no section shows a figure."""
        figure = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-output img").first
        if not figure.count():
            return False
        figure.evaluate("el => el.scrollIntoView({block: 'start'})")
        self.page.screenshot(path=str(path), animations="disabled")
        return True

    def close(self) -> None:
        """Shut the notebook's kernel down and close the page (the notebook is not saved)."""
        try:
            self.page.evaluate("async (path) => { const p = window.__labTest.panel(path);"
                               " if (p) await p.sessionContext.shutdown(); }", self.path)
        finally:
            self.page.close()
