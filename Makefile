# Two commands: `make run` starts the whole system, `make test` runs the whole suite.
# Both create .venv and install requirements.txt first. manage.py and the Celery worker use the
# local (development) settings unless DJANGO_SETTINGS_MODULE names others; pytest the test ones.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres lint format demo superuser bench bench-smoke migrate clean \
	cluster cluster-stop cluster-test bench-capacity

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

run: migrate
	./bin/run

# The test settings even when the shell exports others (pytest-django prefers the variable).
TEST_ENV := DJANGO_SETTINGS_MODULE=messaging_app.settings.test

test: $(STAMP)
	bin/ensure-services
	$(TEST_ENV) $(PY) -m pytest

test-postgres: $(STAMP)
	bin/ensure-services
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
	TEST_DATABASE_NAME=$${TEST_DATABASE_NAME:-test_messaging} $(TEST_ENV) $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: migrate
	$(PY) manage.py seed_demo

# A login for the admin (asks for name, e-mail and password).
superuser: migrate
	$(PY) manage.py createsuperuser

bench: $(STAMP)
	bin/ensure-services redis wrk
	$(PY) -m bench

bench-smoke: $(STAMP)
	bin/ensure-services redis wrk
	$(PY) -m bench --smoke

# Sections 8 (isolation: notifications during a big purge) and 9 (capacity: 1 -> 2 worker and
# web processes, with CPU) alone; BENCHMARKS.md's capacity model comes from them.
bench-capacity: $(STAMP)
	bin/ensure-services redis wrk
	$(PY) -m bench --only 8,9

# The reference deployment on this machine (README.md, "The reference deployment"): HAProxy, two
# web processes, two worker nodes, beat, Flower, PostgreSQL, Redis with Sentinel, cache, pub/sub.
cluster: $(STAMP)
	bin/cluster start

cluster-stop: $(STAMP)
	bin/cluster stop

# The proofs against a cluster of its own (its own ports, database and var/cluster-test/).
cluster-test: $(STAMP)
	bin/cluster-test

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
