# cxloop — the commands a newcomer needs. Only python3 (3.11+) must exist beforehand:
# everything else (uv, the packages, Postgres, a Kafka broker) is installed on first use.

PYTHON      ?= python3
UV_VERSION  := 0.13.8
BOOTSTRAP   := .cxloop/bootstrap
UV          := $(BOOTSTRAP)/bin/uv
VENV_STAMP  := .venv/.synced

.PHONY: help install run test test-fast lint format bench browser clean

help:
	@echo "make run     start everything locally (DEMO=1 also feeds synthetic traffic)"
	@echo "make test    run the whole suite against real Postgres and Kafka"
	@echo "make bench   run the benchmarks (JSON in .bench/, a table on screen)"
	@echo "make lint    ruff and mypy"
	@echo "make browser install Debian's chromium for the dashboard's browser test (root)"

$(UV):
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV_STAMP)

run: install
	$(UV) run --frozen python -m cxloop_devstack run $(if $(DEMO),--demo,)

test: install
	$(UV) run --frozen pytest $(PYTEST_ARGS)

test-fast: install
	$(UV) run --frozen pytest -m "not e2e" $(PYTEST_ARGS)

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: install
	$(UV) run --frozen python -m bench $(BENCH_ARGS)

# The dashboard's browser test drives Debian's chromium through Playwright, which cannot
# download a browser of its own here. apt needs root (CI has it); without chromium the
# test skips, except under CI where it fails.
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

clean:
	rm -rf .venv .cxloop/bootstrap .bench test-artifacts
