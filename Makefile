# Quire: `make run` starts the shop; `make test` runs every check. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp changes whenever a lock (or the sandbox's own project file) does, so the venv
# follows them. Both locks are installed with their hashes checked (requirements-dev.txt
# holds the runtime's pins too, at the same versions); the sandbox is installed editable,
# without dependencies (they are in the lock), for development and tests only.
DEPS   := requirements.txt requirements-dev.txt stripe_sandbox/pyproject.toml
STAMP  := $(VENV)/.installed-$(shell cat $(DEPS) | cksum | cut -d' ' -f1)
LOCK   := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --custom-compile-command 'make lock'

.PHONY: install run test lint typecheck mutation bench bench-lists bench-sync stress sandbox sandbox-tables sample-ebooks clean lock lock-upgrade

$(STAMP): $(DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e ./stripe_sandbox
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run_dev.py

test: $(STAMP)
	$(BIN)/pip check
	$(BIN)/pytest
	$(BIN)/mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# mutmut over the domain modules with the fast tests: the score per module and every
# survivor (explained in tests/mutation/survivors.toml or shown). Not part of `make test`:
# about N minutes on 2 cores. `make mutation MODULES=refunds` for one module.
mutation: $(STAMP)
	$(BIN)/python scripts/mutation.py $(MODULES)

# Production measured: gunicorn (the Procfile's line) on a throwaway PostgreSQL, the sandbox
# with Stripe's latency, wrk; prints figures and writes bench/results/latest.json (about
# 10 minutes; `make bench BENCH=--quick` for a short run).
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

# The admin's lists at 100,000 orders (a temporary SQLite file; PostgreSQL with TEST_DATABASE_URL,
# whose tables it drops and refills).
bench-lists: $(STAMP)
	$(BIN)/python bench/admin_lists.py

# A first sync and an unchanged re-sync of 1,000 items against the sandbox, 150 ms and 0 ms away.
bench-sync: $(STAMP)
	$(BIN)/python bench/sync.py

# The webhook queue attacked on production's processes (gunicorn, queue workers, a PostgreSQL
# cluster of its own, installed from Debian when missing): duplicates, shuffled lifecycles,
# kill -9 and a database outage. About 10 minutes; `python -m bench.stress --small` is CI's size.
stress: $(STAMP)
	$(BIN)/python -m bench.stress

sandbox: $(STAMP)
	$(BIN)/python -m stripe_sandbox run

# Regenerate the sandbox's core/allowed.py and core/shapes.py from the installed SDK and fixtures3.json.
sandbox-tables: $(STAMP)
	$(BIN)/python stripe_sandbox/scripts/generate_tables.py

# Rewrite the sample EPUB and PDF files of the catalogue's ebooks in shop/ebooks/ (deterministic).
sample-ebooks: $(STAMP)
	$(BIN)/python scripts/make_sample_ebooks.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artefacts mutants

# Re-lock after editing requirements.in or requirements-dev.in: new requirements are
# resolved, every other pin stays where it is. `lock-upgrade` moves every pin to the
# newest release allowed (then run `make test`, and commit the locks).
lock: $(STAMP)
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in -o requirements-dev.txt

lock-upgrade: $(STAMP)
	$(LOCK) --upgrade requirements.in -o requirements.txt
	$(LOCK) --upgrade requirements-dev.in -o requirements-dev.txt
