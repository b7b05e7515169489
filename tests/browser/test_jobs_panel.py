"""In a real browser: submit notebooks as jobs from JupyterLab and follow them in the Mofang panel.

Runs ``jupyter lab`` with the server extension and the local backend
(:mod:`tests.browser.jobs_lab`) and drives Debian's Chromium with Playwright
(``MOFANG_CHROMIUM``, default ``/usr/bin/chromium``). It checks what the unit
tests cannot: the toolbar button and dialog, the job's state pushed by the
events stream to the panel without a reload, a replica's logs, cancel, and
that an idle panel makes (almost) no requests. It prints two measured numbers
for the docs: the delay from a job's finish (as the REST API reports it) to
its display, and the requests an idle panel makes per minute. Screenshots go
to a temporary folder, and to ``docs/images/`` with ``MOFANG_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import needs_chromium
from tests.browser.jobs_lab import Lab, running_lab
from tests.browser.lab_page import (
    dismiss_connection_error,
    open_notebook,
    open_page,
    open_panel,
    save_shot,
    with_kernelspec,
)
from tests.jobs.notebooks import DDP_TRAINING, write_notebook

pytestmark = [
    pytest.mark.e2e,
    needs_chromium("tests/jobs/ covers the jobs API over HTTP"),
]

pytest.importorskip("playwright.sync_api", reason="pip install playwright")

PRINTS = """\
import time
for i in range(3):
    print(f"line {i}", flush=True)
    time.sleep(0.5)
print("all done")
"""

LONG = """\
import time
print("sleeping", flush=True)
time.sleep(60)
"""

#: How long a short job may take on two shared cores (not a timing assertion:
#: the test fails only if the job never shows up as finished).
JOB_WAIT_MS = 120_000


# pytest-jupyter's autouse fixtures would close the event loop of Playwright,
# which the module-wide browser below keeps running between tests; this module
# starts no in-process server, so there is nothing for them to do.
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jobslab")
    root = base / "files"
    for name, cells in (("prints", [PRINTS]), ("long", [LONG]), ("ddp", DDP_TRAINING)):
        with_kernelspec(write_notebook(root / f"{name}.ipynb", cells))
    with running_lab(root, base / "state") as running:
        yield running


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page(lab: Lab) -> Iterator[Any]:
    with open_page(lab) as page:
        yield page


def submit_from_toolbar(page: Any, fill: dict[str, str] | None = None) -> str:
    """Click the notebook's submit button, fill the dialog, submit; the new job's id."""
    shown = "() => document.querySelector('#mofang-sidebar .jp-MofangJobs-detail')?.dataset.jobId"
    before = page.evaluate(shown)
    page.locator(".jp-NotebookPanel:visible .jp-MofangSubmitButton").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-MofangSubmit").wait_for()
    for name, value in (fill or {}).items():
        control = dialog.locator(f'[name="{name}"]')
        if name == "kind":
            control.select_option(value)
        else:
            control.fill(value)
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="detached")
    # The panel opens on the new job.
    job_id = page.wait_for_function(
        f"before => {{ const id = ({shown})(); return id && id !== before ? id : false; }}",
        arg=before,
    ).json_value()
    assert isinstance(job_id, str)
    return job_id


def wait_for_state(page: Any, lab: Lab, job_id: str, state: str) -> int:
    """Wait until the panel shows ``state`` for the job; the browser's clock (ms) then."""
    try:
        handle = page.wait_for_function(
            """([id, state]) => {
                const badge = document.querySelector(
                  `#mofang-sidebar .jp-MofangJobs-detail[data-job-id="${id}"] ` +
                    ".jp-MofangJobs-itemTop .jp-MofangState"
                ) || document.querySelector(
                  `#mofang-sidebar button[data-job-id="${id}"] .jp-MofangState`
                );
                return badge && badge.textContent === state ? Date.now() : false;
            }""",
            arg=[job_id, state],
            polling="raf",
            timeout=JOB_WAIT_MS,
        )
    except Exception:
        print("job:", lab.api(f"mofang/api/jobs/{job_id}"))
        print("panel:", page.locator("#mofang-sidebar").inner_text())
        raise
    return int(handle.json_value())


def epoch_ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


def test_python_job_is_followed_to_succeeded_without_reload(
    lab: Lab, page: Any, shots: Path
) -> None:
    # Survives everything but a reload of the page.
    page.evaluate("() => { window.mofangNoReload = true; }")
    open_notebook(page, "prints.ipynb")
    panel = open_panel(page)
    job_id = submit_from_toolbar(page)

    shown_at = wait_for_state(page, lab, job_id, "Succeeded")
    job = lab.api(f"mofang/api/jobs/{job_id}")
    assert job["state"] == "Succeeded"
    delay = shown_at - epoch_ms(job["finished_at"])
    print(f"finish -> shown in the panel: {delay:.0f} ms (finished_at {job['finished_at']})")
    assert page.evaluate("() => window.mofangNoReload === true"), "the page reloaded"

    # JupyterLab notifies the end, with an action that opens the job.
    toast = page.locator(".Toastify__toast", has_text=f"({job_id}): Succeeded")
    toast.wait_for()
    panel.get_by_role("button", name="← All jobs").click()
    toast.get_by_role("button", name="Show job").click()
    panel.locator(f'.jp-MofangJobs-detail[data-job-id="{job_id}"]').wait_for()

    # The detail shows the replica and its log (followed to its end).
    detail = panel.locator(".jp-MofangJobs-detail")
    replica = detail.locator('.jp-MofangJobs-replica[data-replica="worker-0"]')
    assert replica.locator(".jp-MofangState").inner_text() == "Succeeded"
    replica.get_by_role("button", name="Logs of worker-0").click()
    log = detail.locator(".jp-MofangJobs-logText")
    page.wait_for_function(
        "() => document.querySelector('#mofang-sidebar .jp-MofangJobs-logText')"
        "?.textContent.includes('all done')"
    )
    assert "line 0\nline 1\nline 2" in log.inner_text()
    download = detail.locator("a.jp-MofangJobs-download")
    assert "replica=worker-0" in (download.get_attribute("href") or "")
    save_shot(panel, shots, "jobs-detail.png")

    # Back to the list: the job is there, with its state as text.
    detail.get_by_role("button", name="← All jobs").click()
    row = panel.locator(f'button[data-job-id="{job_id}"]')
    assert "Succeeded" in row.inner_text()
    assert "python · 1 replica" in row.inner_text()


def test_ddp_job_with_two_replicas(lab: Lab, page: Any) -> None:
    open_notebook(page, "ddp.ipynb")
    open_panel(page)
    job_id = submit_from_toolbar(page, {"kind": "pytorch", "workers": "2"})
    wait_for_state(page, lab, job_id, "Succeeded")
    detail = page.locator("#mofang-sidebar .jp-MofangJobs-detail")
    names = detail.locator(".jp-MofangJobs-replica").evaluate_all(
        "nodes => nodes.map(n => n.dataset.replica)"
    )
    assert names == ["master-0", "worker-0"]
    detail.get_by_role("button", name="Logs of worker-0").click()
    page.wait_for_function(
        "() => document.querySelector('#mofang-sidebar .jp-MofangJobs-logText')"
        "?.textContent.includes('weights identical on 2 ranks')"
    )


def test_long_job_is_cancelled_from_the_panel(lab: Lab, page: Any, shots: Path) -> None:
    open_notebook(page, "long.ipynb")
    panel = open_panel(page)
    job_id = submit_from_toolbar(page, {"timeout": "600"})
    wait_for_state(page, lab, job_id, "Running")
    panel.locator(".jp-MofangJobs-detail").get_by_role("button", name="Cancel job").click()
    wait_for_state(page, lab, job_id, "Cancelled")
    assert lab.api(f"mofang/api/jobs/{job_id}")["state"] == "Cancelled"
    # A finished job has no Cancel button.
    assert panel.get_by_role("button", name="Cancel job").count() == 0

    # Re-run: the same request as a new job, which the panel opens.
    panel.get_by_role("button", name="Re-run", exact=True).click()
    rerun_id = page.wait_for_function(
        "before => { const id = document.querySelector("
        "'#mofang-sidebar .jp-MofangJobs-detail')?.dataset.jobId;"
        " return id && id !== before ? id : false; }",
        arg=job_id,
    ).json_value()
    rerun = lab.api(f"mofang/api/jobs/{rerun_id}")
    assert rerun["spec"]["timeout_seconds"] == 600
    assert rerun["spec"]["notebook"] == "long.ipynb"
    wait_for_state(page, lab, rerun_id, "Running")
    panel.get_by_role("button", name="Cancel job").click()
    wait_for_state(page, lab, rerun_id, "Cancelled")
    panel.get_by_role("button", name="← All jobs").click()
    save_shot(panel, shots, "jobs-list.png")


def connection_state(page: Any, state: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "state => document.querySelector('#mofang-sidebar .jp-MofangJobs-connection')"
        "?.dataset.state === state",
        arg=state,
        timeout=timeout,
    )


def test_a_lost_connection_is_shown_and_recovered_without_reload(lab: Lab, page: Any) -> None:
    panel = open_panel(page)
    page.evaluate("() => { window.mofangNoReload = true; }")
    connection_state(page, "open")
    lab.stop()  # the server goes away: the stream breaks
    connection_state(page, "lost")
    assert "Connection lost" in panel.locator(".jp-MofangJobs-connection").inner_text()
    lab.start()
    # A job submitted from elsewhere (the REST API) shows up once the panel is back.
    job = lab.api(
        "mofang/api/jobs",
        method="POST",
        body={"notebook": "prints.ipynb", "name": "elsewhere", "idempotency_key": "elsewhere-1"},
    )
    # It reconnects by itself (backoff 1 s, 2 s, 4 s, ...).
    connection_state(page, "open")
    wait_for_state(page, lab, job["id"], "Succeeded")
    assert page.evaluate("() => window.mofangNoReload === true"), "the page reloaded"
    # JupyterLab itself may have noticed the outage too, a moment later.
    page.wait_for_timeout(2000)
    dismiss_connection_error(page)


def test_submit_dialog_shows_errors_next_to_the_field(page: Any, shots: Path) -> None:
    open_notebook(page, "prints.ipynb")
    page.locator(".jp-NotebookPanel:visible .jp-MofangSubmitButton").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator('[name="parameters"]').fill("not a parameter")
    dialog.locator("button.jp-mod-accept").click()
    error = dialog.locator('.jp-MofangSubmit-row[data-field="parameters"] .jp-MofangSubmit-error')
    error.wait_for()
    assert 'has no "="' in error.inner_text()
    # The server's refusal (more GPUs than this server has) lands next to its field.
    dialog.locator('[name="parameters"]').fill("lr=0.1")
    dialog.locator('[name="gpus"]').fill("64")
    dialog.locator("button.jp-mod-accept").click()
    refusal = dialog.locator('.jp-MofangSubmit-row[data-field="gpus"] .jp-MofangSubmit-error')
    refusal.wait_for()
    assert "GPUs" in refusal.inner_text()
    assert dialog.locator('[name="parameters"]').input_value() == "lr=0.1"
    save_shot(dialog.locator(".jp-Dialog-content"), shots, "jobs-submit-dialog.png")
    dialog.locator("button.jp-mod-reject").click()


def test_an_idle_panel_makes_almost_no_requests(page: Any) -> None:
    open_panel(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    seconds = 20
    start = time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    elapsed = time.monotonic() - start
    mofang = [url for url in requests if "/mofang/" in url]
    print(
        f"idle for {elapsed:.0f} s: {len(mofang) * 60 / elapsed:.1f} Mofang requests/min "
        f"({len(mofang)}), {len(requests) * 60 / elapsed:.1f} requests/min from the whole page"
    )
    # The events stream stays open: no request at all unless it had to reconnect.
    assert len(mofang) <= 1, mofang
    assert (
        page.locator("#mofang-sidebar .jp-MofangJobs-connection").get_attribute("data-state")
        == "open"
    )


def test_states_stay_readable_in_the_dark_theme(page: Any, shots: Path) -> None:
    panel = open_panel(page)
    page.locator("#mofang-sidebar").click()  # focus in the app, not in a notebook cell
    page.keyboard.press("Control+Shift+C")  # the command palette
    page.locator(".lm-CommandPalette-input").fill("JupyterLab Dark")
    page.locator(".lm-CommandPalette-item", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(500)  # let the theme's stylesheet apply
    colours = panel.locator(".jp-MofangState").first.evaluate(
        """node => {
            const style = getComputedStyle(node);
            const panel = getComputedStyle(document.querySelector('#mofang-sidebar'));
            return [style.color, panel.backgroundColor];
        }"""
    )
    text, background = (luminance(colour) for colour in colours)
    ratio = (max(text, background) + 0.05) / (min(text, background) + 0.05)
    print(f"dark theme: state text {colours[0]} on {colours[1]}, contrast {ratio:.1f}:1")
    assert ratio >= 4.5  # WCAG AA for normal text
    save_shot(panel, shots, "jobs-list-dark.png")


def luminance(css_colour: str) -> float:
    """Relative luminance (WCAG) of an ``rgb(...)`` / ``rgba(...)`` colour."""
    parts = css_colour[css_colour.index("(") + 1 : css_colour.index(")")].split(",")
    channels = []
    for part in parts[:3]:
        c = float(part) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
