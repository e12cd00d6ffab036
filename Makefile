# Every target sets up what it needs: a fresh clone needs only Python 3.11+, Java 17+ and Maven
# (or a Docker engine, or a running broker named by KAFKA_BOOTSTRAP_SERVERS); the operations
# tests also build kustomize, helm and kubeconform with Go, fetch the KEDA and prometheus-operator
# CRDs from their Go modules and Prometheus's Debian package with apt (`make ops-tools`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv demo replay-topic check-topic import-segment bench bench-instructions chaos test unit lint fmt docs ops-tools oracle segment-kafka kafka-fetch kafka-up kafka-down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed (set PYTHON=...)" if sys.version_info < (3, 11) else 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the package with its test extra

demo: $(STAMP)  ## the main job on a local default: broker, stand-in, sample events, consumer, report
	$(PY) -m devkit.demo

bench: $(STAMP)  ## throughput, latency and memory figures (QUICK=1 for a short run); results in bench/results/
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/bench.py $(if $(QUICK),--quick)

bench-instructions: $(STAMP)  ## CPU instructions per event (valgrind) per mode, and their gates (a few minutes)
	$(PY) bench/instructions.py

chaos: $(STAMP)  ## the fault suite: kills, broker restart, outage, 5xx/429, scaling, poison (QUICK=1)
	$(PY) bench/chaos.py $(if $(QUICK),--quick)

# Your config.toml when there is one, else the shipped example (docs/configuration.md).
CONFIG ?= $(if $(wildcard config.toml),config.toml,config.example.toml)
replay-topic: $(STAMP)  ## reprocess: TOPIC= [SINCE= UNTIL= START_OFFSETS= END_OFFSETS= FILTER= TO_TOPIC= DRY_RUN=1 CONFIG=]
	@test -n "$(TOPIC)" || { echo "error: set TOPIC to the topic to replay, e.g. make replay-topic TOPIC=segment-events.dlq" >&2; exit 2; }
	$(PY) -m consumer replay --config '$(CONFIG)' --topic '$(TOPIC)' \
		$(if $(SINCE),--since '$(SINCE)') $(if $(UNTIL),--until '$(UNTIL)') \
		$(if $(START_OFFSETS),--start-offsets '$(START_OFFSETS)') \
		$(if $(END_OFFSETS),--end-offsets '$(END_OFFSETS)') \
		$(if $(FILTER),--filter '$(FILTER)') $(if $(TO_TOPIC),--to-topic '$(TO_TOPIC)') \
		$(if $(DRY_RUN),--dry-run)

check-topic: $(STAMP)  ## report a topic's keying, people spread over partitions and partitioners: TOPIC= [SAMPLE=N per partition] [CONFIG=]
	@test -n "$(TOPIC)" || { echo "error: set TOPIC to the topic to check, e.g. make check-topic TOPIC=segment-events" >&2; exit 2; }
	$(PY) -m consumer check-topic --config '$(CONFIG)' --topic '$(TOPIC)' $(if $(SAMPLE),--sample '$(SAMPLE)')

# Segment's record of a Movable Ink (Actions) destination -> our TOML (docs/moving-from-segment.md).
import-segment: $(STAMP)  ## Segment -> TOML: DESTINATION= SUBSCRIPTIONS= | TERRAFORM= | FETCH=id, [OUT= NAME= CHECK= PARTIAL=1]
	@test -n "$(DESTINATION)$(TERRAFORM)$(FETCH)" || { echo "error: set DESTINATION and SUBSCRIPTIONS (Public API answers), TERRAFORM, or FETCH (a destination id)" >&2; exit 2; }
	$(PY) -m consumer import-segment \
		$(if $(DESTINATION),--destination '$(DESTINATION)') $(if $(SUBSCRIPTIONS),--subscriptions '$(SUBSCRIPTIONS)') \
		$(if $(TERRAFORM),--terraform '$(TERRAFORM)') $(if $(FETCH),--fetch '$(FETCH)') \
		$(if $(OUT),--out '$(OUT)') $(if $(NAME),--name '$(NAME)') \
		$(if $(CHECK),--check '$(CHECK)') $(if $(PARTIAL),--partial)

# The differential suite's oracle: Segment's published npm packages, pinned by the lock file.
ORACLE := tests/oracle
ORACLE_STAMP := $(ORACLE)/node_modules/.installed
$(ORACLE_STAMP): $(ORACLE)/package.json $(ORACLE)/package-lock.json
	cd $(ORACLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $(ORACLE_STAMP)

oracle: $(ORACLE_STAMP)  ## install Segment's packages (npm ci) for the differential suite in tests/differential

# Records as Segment's Kafka (Actions) destination writes them: kafkajs, pinned by the lock file.
SEGMENT_KAFKA := devkit/segment_kafka
SEGMENT_KAFKA_STAMP := $(SEGMENT_KAFKA)/node_modules/.installed
$(SEGMENT_KAFKA_STAMP): $(SEGMENT_KAFKA)/package.json $(SEGMENT_KAFKA)/package-lock.json
	cd $(SEGMENT_KAFKA) && npm ci --no-audit --no-fund --loglevel=error
	touch $(SEGMENT_KAFKA_STAMP)

segment-kafka: $(SEGMENT_KAFKA_STAMP)  ## install kafkajs (npm ci) for the producer that writes like Segment's Kafka destination

test: $(STAMP) lint ops-tools $(ORACLE_STAMP) $(SEGMENT_KAFKA_STAMP)  ## lint, then the whole suite against a real broker (fetched and started if needed)
	@if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ] && command -v java >/dev/null && command -v mvn >/dev/null; then \
		$(PY) -m devkit.broker fetch >/dev/null; fi
	$(PY) -m pytest

ops-tools:  ## kustomize, helm, kubeconform (go install), the KEDA and prometheus-operator CRDs (go mod download), promtool and prometheus (Debian package) into .cache/ops-tools/
	bash deploy/tools/install-ops-tools.sh

unit: $(STAMP)  ## run only the unit tests (no broker)
	$(PY) -m pytest tests/unit

lint: $(STAMP)  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)  ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# NO_MKDOCS_2_WARNING: Material's banner about its successor, not a warning about our pages.
docs: $(STAMP)  ## build the documentation site (mkdocs.yml, docs/) into site/; any warning fails
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

kafka-fetch: $(STAMP)  ## fetch the Kafka broker jars into .cache/ (Maven Central)
	$(PY) -m devkit.broker fetch

kafka-up: $(STAMP)  ## start a local broker; prints its bootstrap address
	@$(PY) -m devkit.broker up

kafka-down:  ## stop the local broker started by kafka-up
	@$(PYTHON) -m devkit.broker down

clean:  ## remove the venv, caches and local state (not the Kafka jar cache)
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache site
