# The README's quick start: `make demo` runs the main job on the lab, `make test` runs every test.
# Both install what they need first (scripts/bootstrap.sh is idempotent).
VENV ?= .venv
export EGOV_VENV := $(VENV)
PY := $(VENV)/bin/python
EGOV := $(VENV)/bin/egov

.PHONY: bootstrap demo lab-down test unit lint

bootstrap:
	@bash scripts/bootstrap.sh

# The main job on the lab: build it, provision the data centre and the province core routers,
# then bring up one district node and print its verdict (scripts/demo.sh: one line per step).
demo: bootstrap
	@bash scripts/demo.sh

lab-down: bootstrap
	$(EGOV) lab down -i inventory/lab.yml

# Unit tests first (fast, no lab), then the lab tests in one shared lab.
test: bootstrap
	$(PY) -m pytest tests -q

unit: bootstrap
	$(PY) -m pytest tests -q -m "not lab"

# ruff and mypy as pyproject.toml sets them: the library strictly, the tests and benchmarks type-checked too.
lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy egov commands cli.py inventory lab deploys network monitoring verify workflows tests benchmarks
