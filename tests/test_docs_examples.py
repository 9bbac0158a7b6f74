"""Every ```python block in docs/*.md is a complete script: it must run and exit 0.

The documentation promises runnable examples (two user agents on 127.0.0.1, ephemeral
ports), so each block is executed as its own process with the project's interpreter,
bounded in time. A block that should not run is fenced as ```text instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK_RE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for number, match in enumerate(BLOCK_RE.finditer(path.read_text("utf-8")), 1):
            found.append((f"{path.name}#{number}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_examples_found() -> None:
    assert len(EXAMPLES) >= 1, "docs/ lost its runnable examples"


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs(name: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, "utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
