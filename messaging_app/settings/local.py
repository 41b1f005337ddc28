"""Development in a checkout: the default of manage.py and the Celery app.

Debug on, SQLite under var/, and a secret key of this checkout's own, made on first use.
"""

import os
from pathlib import Path

from django.core.management.utils import get_random_secret_key

from .base import *  # noqa: F403
from .base import VAR_DIR, env


def development_secret_key(path: Path) -> str:
    """The key in `path`, written there (mode 0600) by the first process that needs it.

    The key goes to a private temporary file that is then linked into place, so that a process
    starting at the same moment (web server and worker) reads a whole key or makes none.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(get_random_secret_key())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won: use its key
        finally:
            temporary.unlink()
    return path.read_text().strip()


DEBUG = env.bool("DJANGO_DEBUG", default=True)
# var/ is git-ignored: the key never reaches the repository. DJANGO_SECRET_KEY takes precedence.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or development_secret_key(
    VAR_DIR / "development-secret-key"
)

# Static files straight from the apps' folders, refreshed as they change (no collectstatic).
WHITENOISE_USE_FINDERS = True
