"""Settings modules: local (development, the default in a checkout), test, production.

base.py holds what they share; pick one with DJANGO_SETTINGS_MODULE=messaging_app.settings.<name>.
"""
