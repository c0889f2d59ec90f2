# Every target creates the virtual environment it needs: `make demo` and `make test` are the
# whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
NATIVE_SOURCES := setup.py pyproject.toml stream_guard/evaluation/ruleset.py stream_guard/evaluation/detectors.py stream_guard/evaluation/violations.py $(wildcard _native/*)
# the requirements of the named extras in pyproject.toml: `make test` adds them to the demo's
# install without building the native modules a second time
EXTRA_REQUIREMENTS = $(BIN)/python -c 'import sys, tomllib; extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]; print(" ".join(r for name in sys.argv[1:] for r in extras[name]))'

.PHONY: build demo examples test lint tools bench clean kafka-up kafka-down

# the package alone (editable, its native modules built in place): all `make demo` needs
$(STAMP): $(NATIVE_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# the test, benchmark and lint tools on top
$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet $$($(EXTRA_REQUIREMENTS) test bench lint)
	touch $(DEV_STAMP)

build: $(STAMP)

# the bundled example day: `make examples` regenerates it (deterministic, seeded)
EXAMPLE_DAY := examples/day.jsonl.gz
EXAMPLE_LABELS := examples/day.labels.json
EXAMPLE_GEN := --seed 1 --shops 15 --events 10000
DEMO_OUT := build/demo

demo: build
	mkdir -p $(DEMO_OUT)
	$(BIN)/stream-guard scan $(EXAMPLE_DAY) --summary --out $(DEMO_OUT)/violations.jsonl \
		--rejects $(DEMO_OUT)/rejects.jsonl --outcomes $(DEMO_OUT)/outcomes.jsonl --report $(DEMO_OUT)/report.json
	@echo "violations, rejects, reply outcomes and the JSON report are in $(DEMO_OUT)/"

examples: build
	$(BIN)/stream-guard gen $(EXAMPLE_GEN) --out $(EXAMPLE_DAY) --labels $(EXAMPLE_LABELS)

# the Debian packages the tests need (JDK, Maven, prometheus): installed when missing
tools:
	bash scripts/install_tools.sh </dev/null

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(DEV_STAMP) tools lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest benchmarks -q --benchmark-disable
	$(BIN)/python scripts/perf_tables.py --check

# the timed benchmarks, then docs/performance.md written from their figures
bench: $(DEV_STAMP)
	$(BIN)/python -m pytest benchmarks -q
	$(BIN)/python scripts/perf_tables.py

# a real single-node Kafka broker (KRaft) on loopback for development; prints its address
kafka-up:
	$(PYTHON) scripts/kafka_local.py up

kafka-down:
	$(PYTHON) scripts/kafka_local.py down

clean:
	rm -rf $(VENV) build *.egg-info
	find stream_guard -name "*.so" -delete
