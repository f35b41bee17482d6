"""turnout as an installed package: a wheel in a fresh venv serves the shipped config anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from tests.conftest import ENVIRON
from tests.fakes.process import serving

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with turnout's wheel installed; its dependencies come from this one's.

    The dependencies are this environment's site-packages as a path entry (not a site dir, so
    this checkout's editable install of turnout is not in it): what is tested is the wheel.
    """
    work = tmp_path_factory.mktemp("package")
    source, wheels = work / "source", work / "wheels"  # built from a copy: the checkout stays clean
    shutil.copytree(
        ROOT / "service", source / "service", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", wheels, source, cwd=work)  # fmt: skip
    (wheel,) = wheels.glob("turnout-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"])
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
        "--no-deps", wheel, cwd=work)  # fmt: skip
    return venv


@pytest.mark.timeout(300)
def test_the_wheel_serves_the_default_config_from_an_unrelated_folder(
    venv: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(venv / "bin" / "python", "-c", "import turnout; print(turnout.__file__)",
                cwd=elsewhere)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where
    home = tmp_path / "home"
    environ = {**ENVIRON, "PATH": "/usr/bin:/bin", "TURNOUT_HOME": str(home)}
    # The first start of the shipped config builds its encoder and index into the empty home.
    with serving([str(venv / "bin" / "turnout"), "serve"], elsewhere, environ, start_s=240) as url:
        body = {"model": "auto", "messages": [{"role": "user", "content": "Was ist 17 mal 23?"}]}
        decided = httpx.post(f"{url}/v1/route", json=body, timeout=10)
        assert decided.status_code == 200, decided.text
        assert (decided.json()["route"], decided.json()["tier"]) == ("math", "semantic")
        assert decided.json()["build_id"]
        assert httpx.get(f"{url}/readyz", timeout=10).json()["status"] == "ready"
    assert (home / "indexes" / "default" / "manifest.json").is_file()
    assert (home / "encoders" / "use-m3" / "model.onnx").is_file()
    assert not list(elsewhere.glob("*")) or all(p.suffix == ".log" for p in elsewhere.iterdir())
