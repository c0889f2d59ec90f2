# Every target creates the virtual environment it needs: `make demo` and `make test` are the
# whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE_SOURCES := setup.py pyproject.toml stream_guard/evaluation/ruleset.py stream_guard/evaluation/detectors.py stream_guard/evaluation/violations.py _native/_matcher.pyx _native/_replies.pyx _native/_events.pyx _native/_unicode.pxd _native/_str_index.pxd _native/fold_spec.py _native/t2s.tsv

.PHONY: build demo examples test tools bench clean kafka-up kafka-down

$(STAMP): $(NATIVE_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

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

test: build tools
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest benchmarks -q --benchmark-disable

bench: build
	$(BIN)/python -m pytest benchmarks -q

# a real single-node Kafka broker (KRaft) on loopback for development; prints its address
kafka-up:
	$(PYTHON) scripts/kafka_local.py up

kafka-down:
	$(PYTHON) scripts/kafka_local.py down

clean:
	rm -rf $(VENV) build *.egg-info
	find stream_guard -name "*.so" -delete
