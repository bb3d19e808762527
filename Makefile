# Sanyi: `make demo` runs the main job, `make test` runs the tests. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test fuzz lint serve worker scheduler bench bench-floor bench-instructions bench-reconcile clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -c "import engine.cli, hypothesis, pytest" && touch $(STAMP)

install: $(STAMP)

# Debian's Chromium, for the console's browser test only (tests/console/test_browser.py skips
# without it). Never a browser download: the system package, installed as root when missing.
browser:
	@test -x /usr/bin/chromium || { test "$$(id -u)" = 0 && export DEBIAN_FRONTEND=noninteractive && { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; }; } || echo "install Chromium: sudo apt-get install -y chromium"

demo: $(STAMP)
	$(BIN)/sanyi demo $(if $(SERVE),--serve)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

test: lint browser
	$(BIN)/python scripts/run_tests.py

# A longer schemathesis run than make test's: every operation, every role, many more examples.
fuzz: $(STAMP)
	SANYI_FUZZ_EXAMPLES=$${SANYI_FUZZ_EXAMPLES:-200} $(BIN)/python -m pytest -p no:cacheprovider tests/engine/test_fuzz.py

serve: $(STAMP)
	$(BIN)/sanyi serve

worker: $(STAMP)
	$(BIN)/sanyi worker

scheduler: $(STAMP)
	$(BIN)/sanyi scheduler

bench: $(STAMP)
	$(BIN)/python bench/settle.py

bench-floor: $(STAMP)
	$(BIN)/python bench/floor.py

bench-instructions: $(STAMP)
	$(BIN)/python bench/settle_instructions.py

bench-reconcile: $(STAMP)
	$(BIN)/python bench/reconcile.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
