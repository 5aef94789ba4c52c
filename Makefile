# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-core bench-kill schemas clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/upsell demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n 4

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py

bench-core: $(STAMP)
	$(BIN)/python bench/bench_core.py

bench-kill: $(STAMP)
	$(BIN)/python bench/bench_kill.py --engines new  # --engines old,new --old-path DIR: against another checkout

schemas: $(STAMP)
	$(BIN)/upsell schema --out schemas/json
	cp schemas/json/usage-event.schema.json clients/python/src/upsell_client/  # the client ships it

clean:
	rm -rf $(VENV) build *.egg-info
