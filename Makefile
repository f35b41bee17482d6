# The two set-up commands of the README: `make run` and `make test`. Both are idempotent;
# scripts/setup installs only what changed since the last run.
PORT ?= 8080
HOST ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install check demo bench bench-quick bench-peers bench-overhead lock clean

run: install
	$(BIN)/turnout serve --host $(HOST) --port $(PORT)

test: install
	scripts/setup --redis
	scripts/check
	scripts/test
	$(BIN)/python -m benchmarks.run --quick

bench: install
	$(BIN)/python -m benchmarks.run

bench-quick: install
	$(BIN)/python -m benchmarks.run --quick

bench-peers: install
	scripts/peers
	$(BIN)/python -m benchmarks.peers
	$(BIN)/python -m benchmarks.routing_peers

install:
	scripts/setup

check: install
	scripts/check

demo: install
	$(BIN)/turnout demo --port $(PORT)

bench-overhead: install
	$(BIN)/python -m benchmarks.proxy_overhead
	$(BIN)/python -m benchmarks.surfaces

lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v "^turnout" > requirements.lock

clean:
	rm -rf $(VENV) .peers .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*  # builds: turnout setup --force
