"""In a real browser: sweep a notebook from its toolbar and follow the trials in the Mofang panel.

Runs ``jupyter lab`` with the server extension and the local backend
(:mod:`tests.browser.jobs_lab`) and drives Debian's Chromium with Playwright.
It checks what the unit tests (``labextension/src/__tests__``) and the REST
tests (``tests/sweeps/``) cannot: the toolbar's Sweep dialog prefilled from
the notebook's ``parameters`` cell, a server refusal shown next to its
field, trials appearing in the sweep's detail while it runs (pushed by the
events stream), the chart and the best trial, and "Apply best parameters to
the notebook" (pressed with the keyboard) changing the notebook on disk and
in the open editor. The trials are a few lines of Python printing
``accuracy=...``, so the sweep takes seconds. Screenshots go to a temporary
folder, and to ``docs/images/`` with ``MOFANG_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.chromium import needs_chromium
from tests.browser.jobs_lab import Lab, running_lab
from tests.browser.lab_page import (
    open_notebook,
    open_page,
    open_panel,
    save_shot,
    with_kernelspec,
)
from tests.jobs.notebooks import write_notebook

pytestmark = [
    pytest.mark.e2e,
    needs_chromium(
        "tests/sweeps/test_sweep_events.py and labextension/src/__tests__/ (npx jest) cover "
        "the stream and the views without a browser"
    ),
]

pytest.importorskip("playwright.sync_api", reason="pip install playwright")

PARAMETERS = "x = 0.5  # searched\nsteps = 3\n"

#: Best at x = 0.3; one report per step, a moment apart, so trials are seen running.
TRAINING = """\
import time
for step in range(steps):
    time.sleep(0.4)
    print(f"accuracy={1 - (x - 0.3) ** 2:.4f}", flush=True)
"""

#: How long a few tiny trials may take on two shared cores (not a timing assertion).
SWEEP_WAIT_MS = 180_000


# As in test_jobs_panel: this module starts no in-process server.
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("sweepslab")
    root = base / "files"
    with_kernelspec(write_notebook(root / "quad.ipynb", [(PARAMETERS, ["parameters"]), TRAINING]))
    with_kernelspec(write_notebook(root / "hello.ipynb", ["print('hello')"]))
    with running_lab(root, base / "state") as running:
        yield running


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page(lab: Lab) -> Iterator[Any]:
    with open_page(lab) as page:
        yield page


def parameters_cell(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    return str(cell.source)


def trial_states(page: Any) -> list[str]:
    states: list[str] = page.evaluate(
        "() => Array.from(document.querySelectorAll("
        "'#mofang-sidebar tr.jp-MofangSweep-trial')).map(row => row.dataset.state)"
    )
    return states


def test_a_notebook_is_swept_from_its_toolbar_and_its_best_values_applied(
    lab: Lab, page: Any, shots: Path
) -> None:
    open_notebook(page, "quad.ipynb")
    panel = open_panel(page)
    page.locator(".jp-NotebookPanel:visible .jp-MofangSweepButton").click()
    dialog = page.locator(".jp-Dialog")
    form = dialog.locator(".jp-MofangSweepForm")
    form.wait_for()

    # Prefilled from the notebook: x (a float) searched around 0.5, steps not;
    # the metric it prints.
    assert form.locator('[name="search-x"]').is_checked()
    assert not form.locator('[name="search-steps"]').is_checked()
    assert form.locator('[name="min-x"]').input_value() == "0.05"
    assert form.locator('[name="max-x"]').input_value() == "5"
    assert form.locator('[name="log-x"]').is_checked()
    assert form.locator('[name="metric"]').input_value() == "accuracy"
    assert form.locator('[name="direction"]').input_value() == "maximize"
    algorithms = form.locator('[name="algorithm"] option').all_inner_texts()
    assert {"random", "grid", "tpe"} <= set(algorithms)

    form.locator('[name="min-x"]').fill("0")
    form.locator('[name="max-x"]').fill("1")
    form.locator('[name="log-x"]').uncheck()
    form.locator('[name="maxTrials"]').fill("4")
    form.locator('[name="parallel"]').fill("2")
    # A grid needs a step for a double: the server says so, next to x.
    form.locator('[name="algorithm"]').select_option("grid")
    dialog.locator("button.jp-mod-accept").click()
    refusal = page.locator(
        '.jp-MofangSweepForm-parameter[data-field="param:x"] .jp-MofangSubmit-error'
    )
    refusal.wait_for()
    assert "step" in refusal.inner_text(), refusal.inner_text()
    assert lab.api("mofang/api/sweeps")["sweeps"] == []  # nothing was started
    form = page.locator(".jp-Dialog .jp-MofangSweepForm")
    assert form.locator('[name="max-x"]').input_value() == "1"  # what was typed is kept
    form.locator('[name="algorithm"]').select_option("random")
    save_shot(page.locator(".jp-Dialog-content"), shots, "sweep-dialog.png")
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")

    # The panel opens on the sweep; its trials appear while it runs.
    detail = panel.locator(".jp-MofangSweep-detail")
    detail.wait_for()
    sweep_id = detail.get_attribute("data-sweep-id")
    assert sweep_id
    started = time.monotonic()
    seen_running = False
    while True:
        states = trial_states(page)
        seen_running = seen_running or "Running" in states
        badge = detail.locator(".jp-MofangJobs-itemTop .jp-MofangState").inner_text()
        if badge != "Running":
            break
        assert time.monotonic() - started < SWEEP_WAIT_MS / 1000, states
        page.wait_for_timeout(100)
    sweep = lab.api(f"mofang/api/sweeps/{sweep_id}")
    print(f"sweep of 4 trials: {time.monotonic() - started:.1f} s, trial states {states}")
    assert badge == "Succeeded" and sweep["state"] == "Succeeded", sweep
    assert seen_running, "no trial was ever shown running"
    page.wait_for_function(
        "() => document.querySelectorAll('#mofang-sidebar tr.jp-MofangSweep-trial')"
        ".length === 4 && !Array.from(document.querySelectorAll("
        "'#mofang-sidebar tr.jp-MofangSweep-trial')).some(r => r.dataset.state === 'Running')"
    )
    assert trial_states(page) == ["Succeeded"] * 4

    # The best trial is marked in the table and on the chart.
    best = sweep["best"]
    best_row = detail.locator("tr.jp-MofangSweep-trial.jp-mod-best")
    assert best_row.get_attribute("data-trial") == str(best["number"])
    assert "(best)" in best_row.inner_text()
    assert detail.locator("svg circle").count() == 4
    ringed = detail.locator("svg circle.jp-mod-bestTrial")
    assert ringed.get_attribute("data-trial") == str(best["number"])
    save_shot(panel, shots, "sweep-detail.png")

    # Apply best, with the keyboard: the change is shown, and written to the notebook.
    apply = detail.get_by_role("button", name="Apply best parameters to the notebook")
    apply.focus()
    page.keyboard.press("Enter")
    report = panel.locator(".jp-MofangSweep-applied")
    report.wait_for()
    best_x = best["parameters"]["x"]
    assert f"Wrote trial {best['number']}'s values into quad.ipynb" in report.inner_text()
    assert "x: 0.5 → 0." in report.inner_text(), report.inner_text()
    cell = parameters_cell(lab.root / "quad.ipynb")
    assert cell == f"x = {best_x!r}  # searched\nsteps = 3\n"
    # The open notebook (saved first if it had changes, then reloaded) shows it too.
    page.wait_for_function(
        "value => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-Cell .cm-content')?.textContent.includes(value)",
        arg=f"x = {best_x!r}",
    )
    # Focus stays on the button after the detail was redrawn.
    assert page.evaluate("() => document.activeElement?.dataset.focusKey") == "apply"

    # In the list, the sweep is one row; its trials' jobs are in its table only.
    detail.get_by_role("button", name="← All jobs").click()
    row = panel.locator(f'button[data-sweep-id="{sweep_id}"]')
    assert "random · 4/4 trials · best accuracy" in row.inner_text()
    assert panel.locator("button.jp-MofangJobs-item[data-job-id]").count() == 0


def test_a_job_is_re_run_with_edits(lab: Lab, page: Any) -> None:
    job = lab.api(
        "mofang/api/jobs",
        method="POST",
        body={"notebook": "hello.ipynb", "timeout_seconds": 300, "env": {"GREETING": "hi"}},
    )
    panel = open_panel(page)
    panel.locator(f'button[data-job-id="{job["id"]}"]').click()
    detail = panel.locator(f'.jp-MofangJobs-detail[data-job-id="{job["id"]}"]')
    detail.get_by_role("button", name="Edit and re-run…").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-MofangSubmit").wait_for()
    assert dialog.locator('[name="timeout"]').input_value() == "300"
    assert dialog.locator('[name="kind"]').input_value() == "python"
    dialog.locator('[name="timeout"]').fill("120")
    dialog.locator('[name="parameters"]').fill("")
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="detached")
    rerun_id = page.wait_for_function(
        "before => { const id = document.querySelector("
        "'#mofang-sidebar .jp-MofangJobs-detail')?.dataset.jobId;"
        " return id && id !== before ? id : false; }",
        arg=job["id"],
    ).json_value()
    rerun = lab.api(f"mofang/api/jobs/{rerun_id}")
    assert rerun["spec"]["timeout_seconds"] == 120  # the edit
    assert rerun["spec"]["env"] == {"GREETING": "hi"}  # what the dialog does not show
    assert rerun["spec"]["notebook"] == "hello.ipynb"
