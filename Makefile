# One gate, the same locally and in CI: `make test` = lint + types + tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all test check lint types unit demo bench bench-quick sim clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo  # the import rules in setup.cfg [importlinter]
	@if command -v promtool >/dev/null; then promtool check rules wallboard/prometheus/*.yml; \
	else echo "promtool not found (Debian package prometheus): alert rules not checked"; fi

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint types unit

check: test

# Own Redis + the simulator with traffic (own process) + the engine; a summary line a second.
demo: $(STAMP)
	$(BIN)/python -m acd.dev.demo

sim: $(STAMP)
	$(BIN)/python -m freeswitch.sim

# The default prompt set (sv, en; espeak-ng + sox) as a FreeSWITCH sounds directory to
# install (freeswitch/conf/README.md). The real-FreeSWITCH tests make their own copy.
.PHONY: prompts
prompts: $(STAMP)
	$(BIN)/python -m freeswitch.prompts.generate build/sounds

bench: $(STAMP)
	$(BIN)/python bench/esl_parse.py
	$(BIN)/python bench/esl_client.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/e2e.py
	$(BIN)/python bench/vs_modcc.py  # real FreeSWITCH; says "skipped" and exits 0 without one

bench-quick: $(STAMP)
	$(BIN)/python bench/esl_parse.py --quick
	$(BIN)/python bench/esl_client.py --quick
	$(BIN)/python bench/routing.py --quick
	$(BIN)/python bench/e2e.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .hypothesis .import_linter_cache
