"""In a real browser: log into the demo hub, fill the spawn form, see the Mofang panel.

Drives Debian's Chromium with Playwright (browsers cannot be downloaded here,
so the test uses the system one: ``MOFANG_CHROMIUM``, default
``/usr/bin/chromium``). The screenshot it takes is the one in the user guide.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import launch, needs_chromium
from tests.e2e.hub import Hub, running_hub

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    needs_chromium("tests/e2e/test_local_hub.py covers the same flow over HTTP"),
]

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("browserhub")) as running:
        yield running


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        context.close()
        browser.close()


def test_user_spawns_from_the_form_and_sees_the_mofang_panel(
    hub: Hub, page: Any, tmp_path: Path
) -> None:
    p = page
    p.goto(f"{hub.url}/hub/login")
    p.fill("#username_input", "carol")
    p.fill("#password_input", "mofang")
    p.click("#login_submit")

    # The spawn form: carol is in both groups; choose NLP, then PyTorch.
    p.wait_for_selector("#mofang-group")
    assert p.locator("#mofang-group option").all_inner_texts() == ["Vision team", "NLP team"]
    p.select_option("#mofang-group", "nlp")
    # NLP may not use TensorFlow: the form hides it.
    assert not p.locator('label[data-template="tensorflow"]').is_visible()
    p.check('input[name=template][value="pytorch"]')
    assert p.input_value("#mofang-cpu") == "2"
    assert p.get_attribute("#mofang-cpu", "max") == "4"
    # The browser itself refuses more than the group allows ...
    p.fill("#mofang-memory_gib", "64")
    assert p.eval_on_selector("#mofang-memory_gib", "e => e.validity.rangeOverflow")
    # ... and a tampered form gets corrected by the hub, which says so.
    p.eval_on_selector("#mofang-memory_gib", "e => e.removeAttribute('max')")
    p.click("input[type=submit], button[type=submit]")

    # JupyterLab opens; the Mofang panel shows the plan.
    try:
        p.wait_for_selector(".jp-SideBar", timeout=90_000)
    except Exception:
        p.screenshot(path=str(tmp_path / "failed.png"))
        print("page:", p.url, p.inner_text("body")[:2000])
        raise
    p.locator('.jp-SideBar [data-id="mofang-sidebar"]').first.click()
    panel = p.locator("#mofang-sidebar")
    panel.get_by_text("NLP team", exact=True).wait_for(timeout=30_000)
    text = panel.inner_text()
    assert "PyTorch" in text
    assert "projects/nlp" in text and "projects/vision" in text
    assert "Memory lowered from 64 to 16 GiB" in text
    assert "READ-ONLY" in text.upper()

    p.wait_for_timeout(1500)  # let the launcher render for the screenshot
    shot = tmp_path / "mofang-panel.png"
    p.screenshot(path=str(shot))
    if os.environ.get("MOFANG_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / "images" / "mofang-panel.png")
