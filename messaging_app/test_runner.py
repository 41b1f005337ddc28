"""`manage.py test [label ...]` hands over to pytest, which runs the suite on the test settings.

The suite is written for pytest (fixtures, real worker processes), so Django's own runner would
find nothing in it. A label names a folder of tests (`messaging` is tests/messaging/), or a path or
pytest node id (`tests/tasks/test_registry.py::test_task_names_are_registered`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent
TEST_SETTINGS = "messaging_app.settings.test"


def pytest_target(label: str) -> str:
    """What pytest should run for a `manage.py test` label, or a CommandError saying why not."""
    folder = ROOT / "tests" / label
    if folder.is_dir():
        return str(folder)
    path, separator, node = label.partition("::")
    if Path(path).exists():
        return str(Path(path).resolve()) + separator + node
    raise CommandError(
        f"No tests for {label!r}: there is no folder tests/{label}/ and no file or folder "
        f"{path!r}. Give an app name with tests under tests/, a path or a pytest node id."
    )


class PytestRunner:
    """A TEST_RUNNER that runs pytest in a subprocess and exits with pytest's exit code."""

    def __init__(self, verbosity: int = 1, failfast: bool = False, keyword: str = "", **kwargs):
        self.verbosity = verbosity
        self.failfast = failfast
        self.keyword = keyword

    @classmethod
    def add_arguments(cls, parser) -> None:
        parser.add_argument(
            "--failfast", action="store_true", help="Stop at the first failure (pytest -x)."
        )
        parser.add_argument(
            "-k", dest="keyword", default="", help="Only tests matching this pytest expression."
        )

    def pytest_arguments(self, labels: list[str]) -> list[str]:
        arguments = [pytest_target(label) for label in labels]
        # Django's verbosity 0..3 onto pytest's quiet, normal, -v and -vv.
        arguments += {0: ["-q"], 1: [], 2: ["-v"]}.get(self.verbosity, ["-vv"])
        if self.failfast:
            arguments.append("-x")
        if self.keyword:
            arguments += ["-k", self.keyword]
        return arguments

    def run_tests(self, test_labels: list[str], **kwargs) -> int:
        command = [sys.executable, "-m", "pytest", *self.pytest_arguments(list(test_labels))]
        # manage.py has configured the local settings in this process; pytest gets the test
        # settings (an environment variable outranks pyproject.toml in pytest-django).
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": TEST_SETTINGS}
        code = subprocess.run(command, cwd=ROOT, env=environment, check=False).returncode
        if code:
            sys.exit(code)  # the test command would turn any failure count into exit code 1
        return 0
