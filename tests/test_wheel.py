"""The wheel ships the prebuilt extension, the server-extension config, the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    if not (ROOT / "mofang_lab" / "labextension" / "package.json").exists():
        pytest.skip("the extension is not built (scripts/bootstrap.sh builds it)")
    out = tmp_path_factory.mktemp("wheel")
    # No isolation: the prebuilt extension exists, so the build hook skips npm.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("mofang-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_has_the_prebuilt_labextension(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    prefix = "mofang-0.1.0.data/data/share/jupyter/labextensions/mofang-lab/"
    assert prefix + "package.json" in names
    assert prefix + "install.json" in names
    assert any(n.startswith(prefix + "static/") and n.endswith(".js") for n in names)


def test_wheel_enables_the_server_extension(wheel: zipfile.ZipFile) -> None:
    config = "mofang-0.1.0.data/data/etc/jupyter/jupyter_server_config.d/mofang_lab.json"
    assert b'"mofang_lab": true' in wheel.read(config)


def test_wheel_registers_the_spawner_and_the_cli(wheel: zipfile.ZipFile) -> None:
    entry_points = wheel.read("mofang-0.1.0.dist-info/entry_points.txt").decode()
    assert "mofang-local = mofang_spawner.local:MofangLocalSpawner" in entry_points
    assert "mofang = mofang_lab.cli:main" in entry_points
    assert "mofang_spawner/py.typed" in wheel.namelist()
