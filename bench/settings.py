"""Settings of the benchmark runs: the project's settings plus one trivial URL (bench/urls.py)."""

from messaging_app.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
