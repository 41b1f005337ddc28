"""Settings of the benchmark runs: the project's settings plus one trivial URL (bench/urls.py)."""

from messaging_app.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The benchmarks measure throughput: one user posting as fast as the server answers would be
# cut off by the per-user sending limits, which the test suite covers.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
        "message_send": None,
        "message_send_day": None,
        "conversation_create": None,
    },
}
