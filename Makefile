# Every target creates the virtual environment it needs: `make demo` and `make test` are the
# whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE_SOURCES := setup.py pyproject.toml _native/_matcher.pyx _native/fold_spec.py _native/t2s.tsv

.PHONY: build demo test bench clean kafka-up kafka-down

$(STAMP): $(NATIVE_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

build: $(STAMP)

demo: build
	$(BIN)/stream-guard match --fold-numbers --patterns examples/demo_patterns.txt \
		--messages examples/demo_messages.txt

test: build
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
	rm -rf $(VENV) build stream_guard/*.so *.egg-info
