# postloan — two commands do all setup: `make run` (the product) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser run test test-sqlite test-postgres lint lock clean

install: $(STAMP)

# editable_mode=compat: the checkout itself on sys.path (a flat layout), without the warning about
# folders that shadow packages that setuptools' default editable mode prints on every install
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/postloan db upgrade
	$(VENV)/bin/postloan demo seed --if-empty
	$(VENV)/bin/postloan serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's chromium (Playwright never downloads a browser of its own).
browser:
	@{ command -v chromium >/dev/null 2>&1 && command -v dot >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium graphviz >/dev/null; \
	  else echo "chromium or graphviz is not installed: browser tests are skipped, no lifecycle diagram (apt-get install chromium graphviz)"; fi; }

# The suite runs twice: on SQLite and on PostgreSQL (it creates and drops its own database).
test: $(STAMP) browser
	@rc=0; \
	echo "== SQLite"; $(PY) -m pytest -q --db sqlite || rc=1; \
	echo "== PostgreSQL"; $(PY) -m pytest -q --db postgres --pg-url '$(PG_URL)' || rc=1; \
	exit $$rc

test-sqlite: $(STAMP)
	$(PY) -m pytest -q --db sqlite

test-postgres: $(STAMP)
	$(PY) -m pytest -q --db postgres --pg-url '$(PG_URL)'

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy statemachines forms tasks core approvals cases

# Refresh the pinned set after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^postloan' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache
