"""The analysis notebooks in JupyterLab, in a real browser: Run All finishes without an error
or a broken widget, and changing a control re-renders the report sections in place.

One JupyterLab (loopback, throw-away Jupyter state, autosave off) and one headless Chromium
(Debian's /usr/bin/chromium through Playwright, never a downloaded browser) serve the module.
Screenshots, the timings and the server log go to test-artifacts/browser/.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest
from lab_browser import CHROMIUM, LabNotebook, launch_chromium, start_lab
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DEMO = ROOT / "data" / "demo"  # the notebooks' default data_dir
NOTEBOOKS = ["district_comparison", "sorting_forecast", "campaign_impact"]

# Bounds in seconds, about three times the slowest seen on this 2-core VM while other test
# runs competed for it (see timings.json): kernel ready 25, Run All 66 (district_comparison;
# 10 when idle), a widget update 38 (6 when idle).
KERNEL_READY_S = 90
RUN_ALL_S = 240
WIDGETS_RENDERED_S = 30
WIDGET_UPDATE_S = 120
STARTUP_AND_TEARDOWN_S = 120  # server, browser, screenshots, kernel shutdown

# The three tests share one server and browser: dev.sh runs pytest with --dist loadfile, so they stay on one
# worker (--dist loadgroup would say so with xdist_group, but pytest 9.2 ignores it: pytest-xdist#1386).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing (apt-get install chromium; ./dev.sh test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def demo_data(project_demo) -> Path:
    """The demo data at the notebooks' default path (conftest builds it when missing)."""
    assert (DEMO / "cases.parquet").is_file()
    return DEMO


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium, demo_data, artifacts):
    """JupyterLab for the module; stopped and its state (settings, workspaces, checkpoints,
    runtime files) removed afterwards, its log kept."""
    state = tmp_path_factory.mktemp("jupyterlab")
    server = start_lab(state, cwd=ROOT)
    record_timing("server", {"start_s": round(server.started_in, 2)})
    print(f"\n[browser] JupyterLab answered after {server.started_in:.1f} s at {server.url}")
    yield server
    server.stop()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shutil.copy(server.log, artifacts / (f"jupyterlab-{worker}.log" if worker else "jupyterlab.log"))
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory, chromium):
    """A headless Chromium context on a fresh profile, for the module."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, profile)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.timeout(KERNEL_READY_S + RUN_ALL_S + WIDGETS_RENDERED_S + 2 * WIDGET_UPDATE_S
                     + STARTUP_AND_TEARDOWN_S)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_a_control_updates_it(name, lab, browser, artifacts):
    timings = {}
    (artifacts / f"{name}-failed.png").unlink(missing_ok=True)
    started = time.perf_counter()
    notebook = LabNotebook.open(browser, lab, f"notebooks/{name}.ipynb", KERNEL_READY_S)
    timings["open_and_kernel_ready_s"] = round(time.perf_counter() - started, 2)
    try:
        run_all_cells(notebook, timings)
        before = widget_view(notebook, artifacts / f"{name}-before.png")
        change_first_dropdown(notebook, before, timings)
        notebook.screenshot(artifacts / f"{name}-after.png")
        assert notebook.screenshot_figure(artifacts / f"{name}-after-figure.png"), "no figure in any section"
    except BaseException:
        with contextlib.suppress(Exception):
            notebook.page.screenshot(path=str(artifacts / f"{name}-failed.png"))
        raise
    finally:
        if notebook.page_errors:
            timings["page_errors"] = notebook.page_errors
        record_timing(name, timings)
        print(f"[browser] {name}: {json.dumps(timings, ensure_ascii=False)}")
        with contextlib.suppress(Exception):  # the server shuts the kernel down at the end anyway
            notebook.close()


def run_all_cells(notebook: LabNotebook, timings: dict) -> None:
    """Run All: every code cell runs, none has an error output."""
    started = time.perf_counter()
    progress = notebook.run_all(RUN_ALL_S)
    timings["run_all_s"] = round(time.perf_counter() - started, 2)
    timings["stderr_outputs"] = len(progress["stderr"])
    assert not progress["errors"], f"cells failed: {progress['errors']}"
    assert progress["executed"] == progress["codeCells"], progress


def widget_view(notebook: LabNotebook, screenshot: Path) -> list[str]:
    """Check the control bar and the report sections rendered; return the sections' fingerprint."""
    controls = notebook.controls()
    try:
        controls.wait_for(state="visible", timeout=WIDGETS_RENDERED_S * 1000)
    except PlaywrightTimeout:
        pytest.fail(f"no control bar (.ca-controls) {WIDGETS_RENDERED_S} s after Run All")
    assert "Error displaying widget" not in notebook.page_text()
    notebook.screenshot(screenshot)
    sections = settled_fingerprint(notebook, WIDGETS_RENDERED_S)
    assert sections, "no report section (ipywidgets Output) on the page"
    return sections


def settled_fingerprint(notebook: LabNotebook, timeout: float) -> list[str]:
    """The sections' fingerprint once it stays the same for half a second (images still
    loading after Run All would otherwise pass for a change)."""
    deadline = time.monotonic() + timeout
    last = notebook.call("fingerprint")
    while time.monotonic() < deadline:
        notebook.page.wait_for_timeout(500)
        now = notebook.call("fingerprint")
        if now == last:
            return now
        last = now
    pytest.fail(f"the report sections kept changing for {timeout} s after Run All")


def change_first_dropdown(notebook: LabNotebook, before: list[str], timings: dict) -> None:
    """Pick another option in the first dropdown of the control bar; the status line reports
    success and the report sections change, with no error anywhere."""
    select = notebook.controls().locator(".widget-dropdown select").first
    options = select.locator("option").all_text_contents()
    assert len(options) > 1, f"the first dropdown has nothing to change to: {options}"
    target = (select.evaluate("el => el.selectedIndex") + 1) % len(options)
    timings["changed"] = f"{select_label(select)} -> {options[target]}"

    started = time.perf_counter()
    select.select_option(index=target)
    try:  # sections are redrawn one after another, from the top: the first shows the answer begin
        notebook.wait_for("outputsChanged", WIDGET_UPDATE_S, before, polling=50)
    except PlaywrightTimeout:
        pytest.fail(f"no report section changed after {timings['changed']}")
    timings["first_section_browser_s"] = round(time.perf_counter() - started, 3)
    finished = notebook.page.locator(".ca-status.ca-done, .ca-status.ca-error").first
    finished.wait_for(state="attached", timeout=WIDGET_UPDATE_S * 1000)
    timings["widget_browser_s"] = round(time.perf_counter() - started, 3)
    status = notebook.status()
    assert "ca-error" not in status.get_attribute("class"), status.text_content()
    timings["widget_kernel_s"] = float(status.get_attribute("data-seconds"))
    changed = notebook.call("changedSections", before)  # for the record: the last may still be painting
    timings["sections_changed"] = f"{len(changed)} of {len(before)}"
    assert "Error displaying widget" not in notebook.page_text()
    progress = notebook.call("progress")
    assert not progress["errors"], f"error outputs after the change: {progress['errors']}"


def select_label(select) -> str:
    """The description of the ipywidgets Dropdown around ``select``."""
    return select.evaluate("el => (el.closest('.widget-dropdown').querySelector('label') || {}).textContent || ''")


def record_timing(key: str, value) -> None:
    """Set one entry of timings.json, stamped with the time; the other entries stay (xdist
    workers, or another run, may write the file at the same time)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "timings.json").open("a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        timings = json.loads(file.read() or "{}")
        timings[key] = {**value, "at": datetime.now().isoformat(timespec="seconds")}
        file.seek(0)
        file.truncate()
        file.write(json.dumps(timings, ensure_ascii=False, indent=2) + "\n")
