# Two commands set everything up: `make demo` and `make test`.
# Both create the virtual environment once (.venv) and reuse it afterwards;
# it is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench qc-figures clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,hpc]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pyama-dask demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The README's QC figures: the demo's first FOV, drawn by `pyama-dask demo --qc`.
qc-figures: $(STAMP)
	$(BIN)/pyama-dask demo --out demo-output --qc --no-progress
	mkdir -p docs/images
	cp demo-output/results/qc/fov_000_frame.png docs/images/qc_frame.png
	cp demo-output/results/qc/fov_000_traces.png docs/images/qc_traces.png

clean-venv:
	rm -rf $(VENV)
