"""The README's examples are the example plugins, word for word, so that
what readers copy is what is built and tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", README, flags=re.DOTALL)


def test_the_readme_shows_the_examples() -> None:
    assert {path for path, _ in BLOCKS} == {
        "examples/mirror/app.py",
        "examples/mirror/tests/test_mirror.py",
        "examples/teams/app.py",
    }


@pytest.mark.parametrize(("path", "code"), BLOCKS, ids=[path for path, _ in BLOCKS])
def test_a_readme_example_is_the_file_it_names(path: str, code: str) -> None:
    assert (ROOT / path).read_text() == code
