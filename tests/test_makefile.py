"""`make demo` / `make test` rebuild a .venv made with a Python older than 3.11; `make clean` removes
it (issue 15, item 6). Dry runs (`make -n`) of the real Makefile in a scratch folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def fake_venv(folder: Path, version: str) -> None:
    """A .venv whose python says it is `version` (the Makefile asks it; nothing else runs)."""
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    for name in ("pyproject.toml",):
        shutil.copy(ROOT / name, folder / name)
    (folder / "sandbox").mkdir()
    shutil.copy(ROOT / "sandbox" / "pyproject.toml", folder / "sandbox" / "pyproject.toml")
    for name in ("bot", "templates"):
        (folder / name).mkdir()
    major, minor = version.split(".")
    python = folder / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\nexec {shutil.which('python3')} -c \"import sys; sys.version_info = ({major}, {minor}, 0); "
                      f"exec(sys.argv[1])\" \"$2\"\n")  # `python -c CODE`, as if it were that version
    python.chmod(0o755)
    (folder / ".venv" / ".installed").touch()


def dry_run(folder: Path, target: str) -> str:
    done = subprocess.run(["make", "-n", target], cwd=folder, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("target", ["test", "demo"])
def test_a_venv_of_an_old_python_is_made_again(tmp_path, target):
    fake_venv(tmp_path, "3.9")
    out = dry_run(tmp_path, target)
    assert "rm -rf .venv" in out and "-m venv .venv" in out and "pip install" in out


def test_a_venv_of_a_supported_python_is_kept(tmp_path):
    fake_venv(tmp_path, "3.11")
    out = dry_run(tmp_path, "test")
    assert "-m venv" not in out and "pip install" not in out and "pytest" in out


def test_make_clean_removes_the_venv(tmp_path):
    fake_venv(tmp_path, "3.11")
    assert "rm -rf .venv" in dry_run(tmp_path, "clean")
