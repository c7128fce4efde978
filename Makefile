# Developer gates. `make fast` before every commit (under 2 minutes); `make full` is what CI runs (.ci/run).
VENV ?= .venv
BIN := $(VENV)/bin
PATHS := src tests benchmarks evaluation

.PHONY: setup lint format types fast full

setup:  ## a virtualenv with the package (editable), the test tools and the optional dlib pack
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev,dlib]'
	$(BIN)/pip install -q --no-deps face-recognition==1.3.0

lint:  ## ruff's rules and its formatting, checked (nothing is changed)
	$(BIN)/ruff check $(PATHS)
	$(BIN)/ruff format --check $(PATHS)

format:  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format $(PATHS)
	$(BIN)/ruff check --fix $(PATHS)

types:  ## mypy --strict (settings in pyproject.toml)
	$(BIN)/mypy src

fast: lint types  ## plumbing tests on the synthetic pack: no real models, data sets, servers or browser
	$(BIN)/pytest -q -m "not real"

full: lint types  ## every test, as CI runs them (real models and ../shared, PostgreSQL, Milvus, chromium)
	$(BIN)/pytest -q
