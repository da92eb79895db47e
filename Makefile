# The two commands: `make run` and `make test`. Both set everything up first
# and are safe to run again (each step skips what is already done).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HTMX_VERSION := 2.0.11
PORT ?= 5010
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup serve-setup system-packages browser bench-tools venv venv-dev assets db lint \
        typecheck unit integration e2e check bench fuzz stop-db lock clean

run: serve-setup db
	@url="$${DATABASE_URL:-$$($(PY) -m webapp.devdb ensure)}" && \
	  DATABASE_URL="$$url" PORT=$(PORT) $(VENV)/bin/luna-admin serve

# Tests never touch DATABASE_URL's database: they use TEST_DATABASE_URL, or
# <name>_test beside it, or luna_admin_test in the local cluster (devdb test-url).
# The browser tests run in a pytest run of their own (Playwright keeps an event
# loop running that would break the asyncio tests after it).
test: setup db lint typecheck
	@export TEST_DATABASE_URL="$$($(PY) -m webapp.devdb test-url)" && \
	  $(VENV)/bin/pytest tests -q -p no:playwright && \
	  $(VENV)/bin/pytest e2e -q

# tests/conftest.py wants the test database's URL even for the unit tests (they write nothing).
unit: venv-dev db
	@export TEST_DATABASE_URL="$$($(PY) -m webapp.devdb test-url)" && \
	  $(VENV)/bin/pytest tests/unit -q -p no:playwright

integration: setup db
	@export TEST_DATABASE_URL="$$($(PY) -m webapp.devdb test-url)" && \
	  $(VENV)/bin/pytest tests/integration -q -p no:playwright

# A long schemathesis run against a real server (docs/openapi.md): every phase,
# FUZZ_EXAMPLES cases per operation, a new seed each time. `make test` runs a short one.
FUZZ_EXAMPLES ?= 300
fuzz: setup db
	@export TEST_DATABASE_URL="$$($(PY) -m webapp.devdb test-url)" && \
	  LUNA_FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) LUNA_FUZZ_SEED=random LUNA_FUZZ_TIMEOUT=7200 \
	  $(VENV)/bin/pytest tests/integration/test_openapi_fuzz.py -q -p no:playwright

e2e: setup db
	@export TEST_DATABASE_URL="$$($(PY) -m webapp.devdb test-url)" && $(VENV)/bin/pytest e2e -q

# Everything for development: what serving needs, and the browser and tools of the tests.
setup: serve-setup browser venv-dev

# What `make run` needs: PostgreSQL, node/npm (htmx comes from the npm registry), the
# Python packages of the service. No browser, no test tools.
serve-setup: system-packages venv assets

# Debian packages, only when missing. Without root, say what is missing instead.
APT_INSTALL = \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi

system-packages:
	@missing=""; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  command -v node >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	  if [ -n "$$missing" ]; then $(APT_INSTALL); fi

# Debian's Chromium, for the browser tests only.
browser:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing=" chromium"; \
	  if [ -n "$$missing" ]; then $(APT_INSTALL); fi

# Debian's wrk, the load generator of the HTTP benchmarks.
bench-tools:
	@missing=""; command -v wrk >/dev/null 2>&1 || missing=" wrk"; \
	  if [ -n "$$missing" ]; then $(APT_INSTALL); fi

# The venv is rebuilt when requirements.txt or pyproject.toml change; the test tools
# are added (requirements-dev.txt, pinned by requirements.txt) for the test targets.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (a few minutes the first time) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v 'is ignored' || true
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v 'is ignored' || true
	@$(PY) -c 'import litestar, piccolo, passlib, webapp' && touch $@

venv-dev: $(VENV)/.installed-dev
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	@echo "installing the test tools into $(VENV) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c requirements.txt 2>&1 | grep -v 'is ignored' || true
	@$(PY) -c 'import pytest, playwright, schemathesis, ruff, mypy' && touch $@

# htmx from the npm registry, verified by npm, copied into static/vendor/.
assets: static/vendor/htmx.min.js
static/vendor/htmx.min.js:
	@mkdir -p static/vendor && tmp=$$(mktemp -d) && \
	  (cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-$(HTMX_VERSION).tgz) && \
	  cp $$tmp/package/dist/htmx.min.js $@ && rm -rf $$tmp && echo "installed htmx $(HTMX_VERSION)"

# The local cluster under var/pg, unless DATABASE_URL points elsewhere.
db: venv
	@if [ -z "$$DATABASE_URL" ]; then $(PY) -m webapp.devdb ensure >/dev/null; fi

stop-db:
	@$(PY) -m webapp.devdb stop

lint: venv-dev
	@$(VENV)/bin/ruff check webapp tests e2e bench piccolo_conf.py piccolo_migrations
	@$(VENV)/bin/ruff format --check webapp tests e2e bench piccolo_conf.py piccolo_migrations

typecheck: venv-dev
	@$(VENV)/bin/mypy

check: serve-setup db
	@url="$${DATABASE_URL:-$$($(PY) -m webapp.devdb ensure)}" && DATABASE_URL="$$url" $(VENV)/bin/luna-admin check

bench: serve-setup bench-tools db
	@url="$${DATABASE_URL:-$$($(PY) -m webapp.devdb ensure luna_admin_bench)}" && \
	  DATABASE_URL="$$url" $(PY) -m bench.run_all

# Regenerate requirements.txt (the service) and requirements-dev.txt (the test tools,
# resolved with the service's pins as constraints) from pyproject.toml's ranges.
DEV_TOOLS := ruff mypy pytest pytest-asyncio playwright pytest-playwright schemathesis \
	openapi-spec-validator
lock:
	@lock=/tmp/luna-admin-lock && rm -rf $$lock && python3 -m venv $$lock && \
	  $$lock/bin/pip install -q . && \
	  { echo "# What \`make run\` installs into .venv: luna-admin's own dependencies, exactly (pip freeze)."; \
	    echo "# Change versions in pyproject.toml's ranges, then regenerate: make lock"; \
	    $$lock/bin/pip freeze | grep -v '^luna-admin'; } > requirements.txt && \
	  $$lock/bin/pip install -q -c requirements.txt $(DEV_TOOLS) && \
	  { echo "# What \`make test\` adds to .venv: the test and lint tools, exactly (pip freeze, installed"; \
	    echo "# with requirements.txt as constraints). Regenerate with requirements.txt: make lock"; \
	    $$lock/bin/pip freeze | grep -v '^luna-admin' | grep -vxF -f requirements.txt; } > requirements-dev.txt

# The local cluster is removed wherever it lives (var/pg, or the postgres user's home
# for a checkout that user cannot reach: webapp/devdb.py).
clean:
	@if [ -x $(PY) ]; then $(PY) -m webapp.devdb destroy; fi
	rm -rf $(VENV) var static/vendor
