"""Settings of the benchmark runs: production's, on loopback plain HTTP, plus one trivial URL.

Production behaviour is what is measured (debug off, persistent connections, the shared cache;
the password hasher is the exception, below); bench/run.py sets what production requires.
"""

from messaging_app.settings.production import *  # noqa: F403

DEBUG = False  # DEBUG would keep every query in memory
SECURE_SSL_REDIRECT = False  # wrk and the test client talk plain HTTP to 127.0.0.1
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

# delete-user asks for the password again. Django's PBKDF2 costs a few hundred milliseconds per
# check by design; section 5 measures the purge, not the hash, so the bench hashes as the tests
# do (the production cost of that call is the hash on top of the figure measured here).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
