# chord-chaos: `make setup` installs what a fresh machine lacks; `make test` runs everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TOXIPROXY_VERSION := v2.12.0
TEST_TIMEOUT := 900
CHAOS_BUDGET ?= 600
CHAOS_ARGS ?=
GATE_BUDGET ?= 50
GATE_FUZZ_BUDGET ?= 15
GATE_WORKERS ?= 1
FUZZ_BUDGET ?= 300
FUZZ_ARGS ?=
STRICT ?=
STRICT_FLAG := $(if $(STRICT),--strict)
# The Celery under test and its settings (README: "Test the Celery you run"): a release, a pip
# requirement or a checkout's path; a settings module or JSON file. Default: the installed Celery.
CELERY ?=
CONFIG ?=
# The broker every cluster runs: redis (default) or rabbitmq (README: "RabbitMQ and PostgreSQL").
BROKER ?=
TARGET_FLAGS := $(if $(CELERY),--celery '$(CELERY)') $(if $(CONFIG),--config '$(CONFIG)') \
	$(if $(BROKER),--broker $(BROKER))
# Tests and campaigns mostly wait on real processes (timeouts, visibility windows): two per core.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
GATE_SCENARIOS := broker-latency backend-resets worker-killed-mid-header worker-killed-mid-body \
	child-killed-mid-header warm-shutdown-mid-header redis-restart-mid-chord worker-partitioned \
	hierarchical-rollup swarm

.PHONY: setup redis servers chromium toxiproxy venv test lint unit bench chaos fuzz gate quality clean

setup: redis servers chromium toxiproxy venv

# $(call apt,binary,package,purpose): install a Debian package when its binary is missing.
define apt
	@if command -v $(1) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's $(2) ($(3))"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	else echo "$(1) is missing: run 'sudo apt-get install $(2)', then make setup again"; exit 1; fi
endef

# $(call apt_at,path glob,package,purpose): the same, for a package whose binaries are off PATH.
define apt_at
	@if ls $(1) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's $(2) ($(3))"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; \
	else echo "$(2) is missing: run 'sudo apt-get install $(2)', then make setup again"; exit 1; fi
endef

redis:
	$(call apt,redis-server,redis-server,the broker and result backend)
	$(call apt,ss,iproute2,counts the traffic that meets a network fault)

# --broker rabbitmq and --backend postgres: the harness starts both itself (no system service).
servers:
	$(call apt_at,/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server,rabbitmq-server,the RabbitMQ broker)
	$(call apt_at,/usr/lib/postgresql/*/bin/postgres,postgresql,the PostgreSQL result backend)

chromium:
	$(call apt,chromium,chromium,renders report.html for the screenshot test)

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
	@$(PY) -m pip install -q uv  # uv installs the rest in seconds, and builds --celery environments
	@$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[dev]'
	@touch $@

lint: venv
	$(VENV)/bin/ruff check chord_chaos tests bench
	$(VENV)/bin/mypy

# pytest-xdist, each worker with its own state directory (tests/conftest.py).
unit: venv
	timeout $(TEST_TIMEOUT) $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not cluster"

test: setup lint
	timeout $(TEST_TIMEOUT) $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: setup
	timeout 600 $(PY) -m bench

# A campaign over every scenario and backend: CHAOS_BUDGET seconds of runs (the hard timeout
# leaves room for the last run and the summary). More: make chaos CHAOS_ARGS="--seed 7".
chaos: setup
	timeout $$(( $(CHAOS_BUDGET) + 300 )) $(VENV)/bin/chord-chaos chaos --budget $(CHAOS_BUDGET) \
		$(TARGET_FLAGS) $(CHAOS_ARGS)

# The no-fault property over generated canvases, FUZZ_BUDGET seconds on both backends.
# More: make fuzz FUZZ_ARGS="--seed 7 --workers 2" STRICT=1
fuzz: setup
	timeout $$(( $(FUZZ_BUDGET) + 300 )) $(VENV)/bin/chord-chaos fuzz --budget $(FUZZ_BUDGET) $(STRICT_FLAG) \
		$(TARGET_FLAGS) $(FUZZ_ARGS)

# The CI regression gate: a fixed-seed slice of the campaign (no example database, so the same
# cases every time) on GATE_WORKERS isolated clusters at once, each on its share of the scenarios,
# failing on a violation outside the known-issues register; a fixed-seed slice of fuzz (no faults);
# then a check that every deterministic register entry still reproduces (reported, never failing). JUnit XML in
# reports/gate/. STRICT=1: no known-issue excuses in either slice; CELERY=5.3.6 (or a checkout's path)
# and CONFIG=settings.py gate another Celery and its settings.
gate: setup
	timeout $$(( $(GATE_BUDGET) + 240 )) $(VENV)/bin/chord-chaos chaos --seed 0 --budget $(GATE_BUDGET) \
		--workers $(GATE_WORKERS) --database none --shrink-budget 20 --fail-on violation --min-landing 0.8 \
		--report-dir reports/gate $(STRICT_FLAG) $(TARGET_FLAGS) \
		--junit reports/gate/junit.xml $(foreach s,$(GATE_SCENARIOS),--scenario $(s))
	timeout $$(( $(GATE_FUZZ_BUDGET) + 240 )) $(VENV)/bin/chord-chaos fuzz --seed 0 --budget $(GATE_FUZZ_BUDGET) \
		--database none --shrink-budget 20 --report-dir reports/gate/fuzz $(STRICT_FLAG) $(TARGET_FLAGS) \
		--junit reports/gate/fuzz-junit.xml
	timeout 300 $(VENV)/bin/chord-chaos known-issues --check --deterministic --times 1 --report-dir reports/gate/register \
		--json reports/gate/register.json --junit reports/gate/register-junit.xml $(TARGET_FLAGS)

# The planted-bug tier: bugs planted in a copy of Celery, each of which fixed-seed fuzz (or chaos,
# for a bug only a fault shows) must catch within its budget; prints the kill table.
quality: setup
	CC_QUALITY=1 timeout 1800 $(PY) -m pytest -q -s tests/quality

# Stops what a killed harness left running (through the process registries, by pid and start
# time, never by name) before it deletes them; refuses while a live harness still owns some.
clean:
	@if [ -x $(PY) ] && [ -d .cc-runs ]; then $(PY) -m chord_chaos.harness.infra.registry reap .cc-runs; fi
	rm -rf .cc-runs reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
