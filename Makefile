# Two commands set everything up: `make demo` and `make test`.
# Both create the virtual environment once (.venv) and reuse it afterwards;
# it is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-live test bench qc-figures napari-figure clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,hpc,napari]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pyama-dask demo

# A simulated acquisition (2 FOVs, a time point every 3 s) processed as it lands: the follow run
# prints the dashboard link and a status line every few seconds; `pyama-dask status demo-live/results`
# and `pyama-dask qc demo-live/results` work in another terminal meanwhile.
demo-live: $(STAMP)
	rm -rf demo-live
	$(BIN)/pyama-dask simulate-acquisition demo-live/acquisition --layout tiff-folder --interval 3s \
		--fovs 2 --frames 30 --size 512 & \
	$(BIN)/pyama-dask run demo-live/acquisition --follow --until-idle 2m --out demo-live/results --pc Phase --fl GFP; \
	status=$$?; wait; exit $$status

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

# The README's napari screenshot: a robust-profile run over dividing synthetic cells, its FOV 0 drawn
# by napari (image, labels, tracks) on a virtual display.
napari-figure: $(STAMP)
	$(BIN)/python -c "from pyama_dask.synthetic import SyntheticSpec, generate_dataset; \
	generate_dataset('napari-demo', SyntheticSpec(n_fovs=1, n_frames=24, size=384, n_cells=12, n_fluorescence=1, \
	seed=5, divisions=True), name='dividing')"
	$(BIN)/pyama-dask run napari-demo/dividing.ome.tiff --pc 0 --fl 1 --profile robust --out napari-demo/results \
	    --no-progress
	mkdir -p docs/images
	xvfb-run -a -s "-screen 0 1280x1024x24" $(BIN)/python -m pyama_dask.napari_tracks \
	    napari-demo/results/pyama.zarr/fov_000 --screenshot docs/images/napari_tracks.png

clean-venv:
	rm -rf $(VENV)
