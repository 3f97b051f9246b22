# The README's two commands. Each one sets up everything it needs on a fresh machine:
#   make demo   run the whole MCP authorization tutorial end to end, unattended
#   make test   run every test (real servers on loopback, real SQLite, real Chromium)
#   make bench  run the benchmarks side by side and print the figures (docs/benchmarks.md)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
# System packages need root; use sudo when we are not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench bench-tools lint clean

demo: $(INSTALLED)
	$(BIN)/python -m scripts.demo

test: $(INSTALLED) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Extra options for scripts/bench/run.py, e.g. make bench BENCH_ARGS="--rounds 1 --growth 1000".
BENCH_ARGS ?=

bench: $(INSTALLED) bench-tools
	$(BIN)/python -m scripts.bench.run $(BENCH_ARGS)

# wrk drives the single requests and Node the stateful flows (docs/decisions/0023), both from Debian.
bench-tools:
	@command -v wrk >/dev/null && command -v node >/dev/null || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends wrk nodejs; }

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Debian's Chromium drives the login and consent tests; Playwright is pointed at it
# because `playwright install` cannot download browsers here.
$(CHROMIUM):
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
