"""A checkout with no variable set: manage.py, the worker app and `manage.py test` just work.

Each check runs in a fresh process with a clean environment (no DJANGO_* variable, VAR_DIR in
tmp_path), as a newcomer's shell would be. Also: the README lists every variable the settings read.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from messaging_app import test_runner
from testkit import ROOT, HttpApi, free_port, stop_process_group, wait_until

SETTINGS_DIR = ROOT / "messaging_app" / "settings"


def checkout_env(var_dir: Path) -> dict[str, str]:
    """A newcomer's shell: no DJANGO_SETTINGS_MODULE, no key, no database, broker or cache URL."""
    return {"PATH": "/usr/bin:/bin", "VAR_DIR": str(var_dir), "HOME": str(var_dir.parent)}


def last_line(output: str) -> str:
    """What the command printed last (`shell` first says how many objects it imported)."""
    return output.strip().splitlines()[-1]


def run(args: list[str], var_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=checkout_env(var_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["check"], "System check identified no issues"),
        (["shell", "-c", "print(1)"], "1"),
        (["showmigrations", "messaging"], "0001_initial"),
    ],
)
def test_manage_py_works_in_a_checkout_with_no_variable_set(tmp_path, command, expected):
    result = run(["manage.py", *command], tmp_path / "var")
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout


def test_a_checkout_runs_the_local_settings_with_debug_on(tmp_path):
    code = "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"
    result = run(["manage.py", "shell", "-c", code], tmp_path / "var")
    assert result.returncode == 0, result.stderr[-3000:]
    assert last_line(result.stdout) == "messaging_app.settings.local True"


def test_the_worker_app_loads_its_tasks_with_no_variable_set(tmp_path):
    code = (
        "import celery_app; celery_app.app.loader.import_default_modules(); "
        "from django.conf import settings; "
        "print(settings.SETTINGS_MODULE, sorted(celery_app.app.tasks))"
    )
    result = run(["-c", code], tmp_path / "var")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("messaging_app.settings.local ")
    assert "user_data_purge" in result.stdout


def test_the_development_key_is_made_once_private_and_kept(tmp_path):
    var_dir = tmp_path / "var"  # does not exist yet: writing the key creates it
    show_key = [
        "manage.py",
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
    ]
    first = run(show_key, var_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    key_file = var_dir / "development-secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert last_line(first.stdout) == key
    assert len(key) >= 50

    second = run(show_key, var_dir)
    assert last_line(second.stdout) == key
    assert [p.name for p in var_dir.iterdir()] == ["development-secret-key"]


_SHOW_URLS = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps([settings.CACHES["default"], settings.DATABASES["default"]["ENGINE"],
                  getattr(settings, "CELERY_BROKER_TRANSPORT", None),
                  settings.OUTBOX_RELAY_GRACE_SECONDS]))
"""


@pytest.mark.parametrize(
    ("variables", "cache", "transport", "grace"),
    [
        ({}, {"BACKEND": "locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 2_000}}, None, 60),
        ({"CACHE_URL": "locmem://"}, {"BACKEND": "locmem.LocMemCache"}, None, 60),
        (
            {"CACHE_URL": "redis://127.0.0.1:6379/1"},
            {
                "BACKEND": "core.redis_cache.RedisCache",  # Django's, one client per pool
                "LOCATION": "redis://127.0.0.1:6379/1",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            },
            None,
            60,
        ),
        ({"CELERY_BROKER_URL": "filesystem://"}, {}, "tasks.filesystem_transport:Transport", 15),
    ],
)
def test_urls_from_the_environment_keep_their_meaning(tmp_path, variables, cache, transport, grace):
    env = {**checkout_env(tmp_path), "DJANGO_SETTINGS_MODULE": "messaging_app.settings.local"}
    result = subprocess.run(
        [sys.executable, "-c", _SHOW_URLS],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    caches, engine, broker_transport, relay_grace = json.loads(last_line(result.stdout))
    for key, value in cache.items():
        expected = value
        if key == "BACKEND" and not value.startswith("core."):
            expected = f"django.core.cache.backends.{value}"
        assert caches[key] == expected, key
    assert engine == "core.sqlite"  # Django's SQLite backend, writers queued (core/sqlite)
    assert (broker_transport, relay_grace) == (transport, grace)
    assert not (tmp_path / "broker").exists()  # created by the transport when used, not here


# --- manage.py test -------------------------------------------------------------------------


def test_manage_py_test_runs_a_file_of_the_suite_and_reports_its_count(tmp_path):
    tests = (ROOT / "tests/tasks/test_registry.py").read_text().count("\ndef test_")
    result = run(["manage.py", "test", "tests/tasks/test_registry.py"], tmp_path / "var")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(rf"\b{tests} passed\b", result.stdout), result.stdout[-3000:]


def test_manage_py_test_exits_with_pytests_code(tmp_path):
    args = ["manage.py", "test", "tests/tasks/test_registry.py", "-k", "no_test_has_this_name"]
    result = run(args, tmp_path / "var")
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, result.stderr[-3000:]


def test_manage_py_test_with_an_unknown_label_is_a_clear_error(tmp_path):
    result = run(["manage.py", "test", "no_such_app"], tmp_path / "var")
    assert result.returncode == 1
    assert "No tests for 'no_such_app': there is no folder tests/no_such_app/" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_label_names_an_apps_test_folder_first_then_a_path(tmp_path, monkeypatch):
    (tmp_path / "tests" / "chats").mkdir(parents=True)
    monkeypatch.setattr(test_runner, "ROOT", tmp_path)
    assert test_runner.pytest_target("chats") == str(tmp_path / "tests" / "chats")
    monkeypatch.chdir(ROOT)
    node = "tests/tasks/test_registry.py::test_task_names_are_registered"
    assert test_runner.pytest_target(node) == str(ROOT / node)
    with pytest.raises(CommandError, match="No tests for 'messages'"):
        test_runner.pytest_target("messages")


@pytest.mark.parametrize(
    ("options", "arguments"),
    [
        ({}, []),
        ({"verbosity": 0}, ["-q"]),
        ({"verbosity": 2, "failfast": True}, ["-v", "-x"]),
        ({"verbosity": 3, "keyword": "purge"}, ["-vv", "-k", "purge"]),
    ],
)
def test_verbosity_failfast_and_k_reach_pytest(options, arguments):
    assert test_runner.PytestRunner(**options).pytest_arguments([]) == arguments


# --- README ---------------------------------------------------------------------------------


def variables_read_by_settings() -> dict[str, set[str]]:
    """Each environment variable an `env(...)` call of a settings module reads, and where."""
    read: dict[str, set[str]] = {}
    for module in SETTINGS_DIR.glob("*.py"):
        for name in re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", module.read_text()):
            read.setdefault(name, set()).add(module.stem)
    return read


def readme_configuration_table() -> dict[str, str]:
    """Each variable of README.md's configuration table, with its "read by" cell."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {name: row[2] for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])}


def test_readme_lists_every_variable_the_settings_read_and_where():
    read = variables_read_by_settings()
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_SECURE_HSTS_PRELOAD"} <= set(read)
    documented = readme_configuration_table()
    assert sorted(set(read) - set(documented)) == []
    for name, modules in read.items():
        for module in modules:
            assert re.search(rf"\b{module}\b", documented[name]), (name, module)


def test_the_locmem_cache_holds_a_bounded_number_of_bounded_entries(settings):
    """LocMemCache keeps at most MAX_ENTRIES (it culls beyond), the list cache stores no entry
    over LIST_CACHE_MAX_ENTRY_BYTES: together the memory bound the README states."""
    from django.core.cache.backends.locmem import LocMemCache

    config = settings.CACHES["default"]
    assert config["BACKEND"].endswith("LocMemCache")  # the default, as in `make run`
    max_entries = config["OPTIONS"]["MAX_ENTRIES"]
    assert max_entries == settings.LOCMEM_CACHE_MAX_ENTRIES == 2_000
    assert max_entries * settings.LIST_CACHE_MAX_ENTRY_BYTES == 125 * 1024 * 1024
    cache = LocMemCache("bound-check", {"OPTIONS": config["OPTIONS"]})
    for i in range(max_entries + 500):
        cache.set(f"k{i}", i)
    assert len(cache._cache) <= max_entries


def test_make_runs_script_serves_the_api_on_the_local_settings_and_delivers(tmp_path):
    """`bin/run`, as `make run` calls it after migrating, with no variable set but the ports and
    (so that it shares nothing with this machine) the filesystem broker: the API answers on the
    local settings, and a message sent through it gets its notification from the worker."""
    var_dir = tmp_path / "var"
    migrated = run(["manage.py", "migrate", "--noinput"], var_dir, timeout=180)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    port, flower_port = free_port(), free_port()
    env = {
        **checkout_env(var_dir),
        "PORT": str(port),
        "FLOWER_PORT": str(flower_port),
        "CELERY_BROKER_URL": "filesystem://",
    }
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "run")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def serving() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"bin/run exited:\n{log.read_text()[-3000:]}")
            return HttpApi(base, timeout=2).request("GET", "/api/health/live/")[0] == 200

        wait_until(serving, timeout=90, what="the API")
        alice, bob = (HttpApi(base, _token(base, f"runner{i}")) for i in range(2))
        _, me = bob.request("GET", "/api/auth/me/")
        status, sent = alice.request(
            "POST", "/api/messaging/messages/", {"receiver": me["id"], "content": "hi"}
        )
        assert status == 201, sent

        def notified() -> bool:
            _, page = bob.request("GET", "/api/messaging/notifications/")
            return [n["message"]["id"] for n in page["results"]] == [sent["id"]]

        wait_until(notified, timeout=60, what="the worker's notification")
    finally:
        stop_process_group(process, timeout=20)
    output = log.read_text()
    assert "Live delivery: polling the event table" in output, output[-3000:]


def _token(base: str, name: str) -> str:
    """Register `name` through the API and return an access token."""
    account = {"username": name, "password": "a-long-Passw0rd-for-tests"}
    status, body = HttpApi(base).request(
        "POST", "/api/auth/register/", {**account, "email": f"{name}@example.com"}
    )
    assert status == 201, body
    status, body = HttpApi(base).request("POST", "/api/auth/token/", account)
    assert status == 200, body
    return body["access"]
