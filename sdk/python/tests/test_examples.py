"""Each example plugin's own tests pass, run as a plugin's are (from its
folder, with the SDK on PYTHONPATH); each in a process of its own, as every
example is a module named `app`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(path.parent for path in (ROOT / "examples").glob("*/app.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_an_examples_tests_pass(example: Path) -> None:
    environment = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}.")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=example,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
