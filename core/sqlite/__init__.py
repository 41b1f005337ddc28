"""Django's SQLite backend, with writers waiting in line on an OS lock (see base.py)."""
