"""The browser side of the lab tests: a logged-in JupyterLab page and the moves every test makes.

Shared by the jobs and sweeps panel tests (:mod:`tests.browser.test_jobs_panel`,
:mod:`tests.browser.test_sweeps_panel`): opening the page with the lab's
token, the Mofang panel and a notebook, and saving screenshots (to
``docs/images/`` too with ``MOFANG_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat

from tests.browser.chromium import launch
from tests.browser.jobs_lab import Lab

__all__ = [
    "dismiss_connection_error",
    "open_notebook",
    "open_page",
    "open_panel",
    "save_shot",
    "with_kernelspec",
]

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def open_page(lab: Lab) -> Iterator[Any]:
    """A Chromium page logged into ``lab``'s JupyterLab, its side bar drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        # The token in the URL logs the browser in (a cookie) once.
        page.goto(f"{lab.url}lab?token={lab.token}")
        page.wait_for_selector(".jp-SideBar")
        yield page
        context.close()
        browser.close()


def with_kernelspec(path: Path) -> None:
    """Name the kernel, so that JupyterLab opens the notebook without asking for one."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)


def save_shot(node: Any, shots: Path, name: str) -> None:
    shot = shots / name
    node.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("MOFANG_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / "images" / name)


def dismiss_connection_error(page: Any) -> None:
    """Close JupyterLab's own "Server Connection Error" dialog, left by the restart test."""
    dialog = page.locator('.jp-Dialog[aria-label^="Server Connection Error"]')
    if dialog.count():
        dialog.locator("button").last.click()
        dialog.wait_for(state="detached")


def show_side_panel(page: Any, panel_id: str) -> Any:
    """Show the left area's panel ``panel_id``, and return it once visible.

    Its tab is clicked only when it is not the current one (a click on the
    current tab collapses the area), and again if the lab, still restoring its
    layout, showed another panel meanwhile.
    """
    dismiss_connection_error(page)
    panel = page.locator(f"#{panel_id}")
    tab = page.locator(f'.jp-SideBar [data-id="{panel_id}"]').first
    for _ in range(5):
        tab.wait_for()
        if "lm-mod-current" not in (tab.get_attribute("class") or ""):
            tab.click()
        try:
            panel.wait_for(state="visible", timeout=3000)
            return panel
        except Exception:  # noqa: S112 - playwright's TimeoutError: look again
            continue
    panel.wait_for(state="visible")
    return panel


def open_panel(page: Any) -> Any:
    return show_side_panel(page, "mofang-sidebar")


def open_notebook(page: Any, name: str) -> None:
    """Open ``name`` from the file browser (or bring its tab to the front)."""
    show_side_panel(page, "filebrowser")
    page.locator(".jp-DirListing-itemText", has_text=name).first.dblclick()
    page.locator(f'.jp-DocumentWidget:visible[title*="{name}"] .jp-MofangSubmitButton').or_(
        page.locator(".jp-NotebookPanel:visible .jp-MofangSubmitButton")
    ).first.wait_for()
