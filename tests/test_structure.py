"""The shape of the code: functions fit on a screen, and the apps' layers hold (import-linter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import ROOT

MAX_LINES = 40
# Everything but the suite's tests and the migrations: the apps, the project, the bench and its
# helpers, and the cluster's proofs.
SOURCES = [
    *(
        path
        for folder in (
            "accounts",
            "chats",
            "messaging",
            "outbox",
            "tasks",
            "monitoring",
            "core",
            "live",
        )
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
    ),
    *(ROOT / "messaging_app").rglob("*.py"),
    *(ROOT / "bench").rglob("*.py"),
    *(ROOT / "cluster_tests").rglob("*.py"),
    ROOT / "testkit.py",
    ROOT / "celery_app.py",
]
# A function may be longer if the line above it (or above its decorators) says why.
REASON = "# Long:"


def long_functions(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        length = node.end_lineno - node.lineno + 1
        justified = first >= 2 and lines[first - 2].strip().startswith(REASON)
        if length > MAX_LINES and not justified:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_every_function_fits_on_a_screen():
    too_long = [entry for path in SOURCES for entry in long_functions(path)]
    assert too_long == [], f"functions over {MAX_LINES} lines without a '{REASON}' reason"


def test_the_checker_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    source = tmp_path / "sample.py"
    source.write_text(f"def f():\n{body}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tests.test_structure.ROOT", tmp_path)
        assert long_functions(source) == [f"sample.py:1 f ({MAX_LINES + 1} lines)"]
        source.write_text(f"{REASON} a table of cases reads best in one place\ndef f():\n{body}\n")
        assert long_functions(source) == []


def test_import_contracts_hold():
    """The layers of pyproject.toml's [tool.importlinter] (also run by `make lint`)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
