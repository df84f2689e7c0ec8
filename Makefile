# chord-chaos: `make setup` installs what a fresh machine lacks; `make test` runs everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TOXIPROXY_VERSION := v2.12.0
TEST_TIMEOUT := 900
CHAOS_BUDGET ?= 600
CHAOS_ARGS ?=

.PHONY: setup redis toxiproxy venv test lint unit bench chaos clean

setup: redis toxiproxy venv

redis:
	@if command -v redis-server >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's redis-server"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else echo "redis-server is missing: run 'sudo apt-get install redis-server', then make setup again"; exit 1; fi

toxiproxy: bin/toxiproxy-server
bin/toxiproxy-server:
	@mkdir -p bin
	@if command -v toxiproxy-server >/dev/null 2>&1; then \
		ln -sf "$$(command -v toxiproxy-server)" bin/toxiproxy-server; \
	elif command -v go >/dev/null 2>&1; then \
		echo "building toxiproxy-server $(TOXIPROXY_VERSION) with go install"; \
		GOBIN="$(CURDIR)/bin" go install github.com/Shopify/toxiproxy/v2/cmd/server@$(TOXIPROXY_VERSION) \
		&& mv bin/server bin/toxiproxy-server; \
	else echo "neither toxiproxy-server nor go is on PATH: install Go (https://go.dev) and run make setup"; exit 1; fi

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

lint: venv
	$(VENV)/bin/ruff check chord_chaos tests
	$(VENV)/bin/mypy

unit: venv
	timeout $(TEST_TIMEOUT) $(PY) -m pytest -q -m "not cluster"

test: setup lint
	timeout $(TEST_TIMEOUT) $(PY) -m pytest -q

bench: setup
	timeout 600 $(PY) -m chord_chaos.bench

# A campaign over every scenario and backend: CHAOS_BUDGET seconds of runs (the hard timeout
# leaves room for the last run and the summary). More: make chaos CHAOS_ARGS="--seed 7".
chaos: setup
	timeout $$(( $(CHAOS_BUDGET) + 300 )) $(VENV)/bin/chord-chaos chaos --budget $(CHAOS_BUDGET) $(CHAOS_ARGS)

clean:
	rm -rf .cc-runs reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
