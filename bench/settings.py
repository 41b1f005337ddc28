"""Settings of the benchmark runs: production's, on loopback plain HTTP, plus one trivial URL.

Production behaviour is what is measured (debug off, the real password hasher, persistent
connections); bench/run.py sets the secret key and host names production requires.
"""

from messaging_app.settings.production import *  # noqa: F403

DEBUG = False  # DEBUG would keep every query in memory
SECURE_SSL_REDIRECT = False  # wrk and the test client talk plain HTTP to 127.0.0.1
ROOT_URLCONF = "bench.urls"
