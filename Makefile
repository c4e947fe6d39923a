# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-all lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# Default search: a Pareto sweep on scikit-learn's embedded digits, ends by printing the plot's and the report's path.
run: $(STAMP)
	$(VENV)/bin/bitgate sweep --config configs/digits_stm32h7.toml
	$(VENV)/bin/bitgate report "$$(ls -td runs/sweep-*/ | head -n 1)"
	@echo "to type bitgate yourself, put it on the PATH of this shell: . $(VENV)/bin/activate"

test: $(STAMP)
	$(PY) -m pytest -q

# every test, slow ones included, and the fuzz tests with the long Hypothesis profile (tests/conftest.py)
test-all: $(STAMP)
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -m ''

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
