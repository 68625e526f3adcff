"""``make install`` (behind ``make serve`` and ``make test``): one line on success, pip's
errors on failure. Driven through the real Makefile with a stand-in ``python`` in a scratch
venv folder, so no package is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Stands in for the venv's python: `-m pip install` raises a real Python warning the way
# setuptools' build backend does (silenced only through PYTHONWARNINGS), prints a pip note on a
# missing index folder, and fails when FAKE_PIP_FAIL is set.
FAKE_PYTHON = f"""#!/bin/sh
if [ "$3" = "install" ]; then
  {sys.executable} -c 'import warnings; warnings.warn("Editable installation. Please be careful")'
  echo "WARNING: Location 'file:///x/' is ignored: it is neither a file nor a directory."
  if [ -n "$FAKE_PIP_FAIL" ]; then
    echo "ERROR: No matching distribution found for falcon>=4.0" >&2
    exit 1
  fi
fi
exit 0
"""


def _make_install(tmp_path: Path, *, fail: bool) -> subprocess.CompletedProcess[str]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "PYTHONWARN"))}
    if fail:
        env["FAKE_PIP_FAIL"] = "1"
    return subprocess.run(
        ["make", "--no-print-directory", "install", f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def test_install_prints_one_line(tmp_path: Path) -> None:
    result = _make_install(tmp_path, fail=False)
    assert result.returncode == 0, result.stderr
    output = (result.stdout + result.stderr).strip()
    assert output.count("\n") == 0, output
    assert output.startswith("installing CodeRouter, ") and output.endswith("install.log)")
    log = (tmp_path / "venv" / "install.log").read_text()
    assert "Editable installation" not in log  # the backend warning was silenced, not just hidden
    assert (tmp_path / "venv" / ".installed").exists()


def test_install_failure_shows_the_error(tmp_path: Path) -> None:
    result = _make_install(tmp_path, fail=True)
    assert result.returncode != 0
    assert "ERROR: No matching distribution found for falcon>=4.0" in result.stderr
    assert "install failed; full log:" in result.stderr
    assert "is ignored: it is neither" not in result.stderr
    assert not (tmp_path / "venv" / ".installed").exists()
