"""Fixtures shared by the whole test suite."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real microscopy files of ``<repo>/../shared/data`` (skips when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real microscopy data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A small generated dataset: 3 FOVs x 8 frames x 256 px, phase contrast + 2 fluorescence."""
    from pyama_dask.synthetic import SyntheticSpec, generate_dataset

    spec = SyntheticSpec(n_fovs=3, n_frames=8, size=256, n_cells=9, n_fluorescence=2, seed=7)
    return generate_dataset(tmp_path_factory.mktemp("tiny"), spec, name="tiny")


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of 2 single-threaded worker processes shared by the session's tests."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="session")
def tiny_run(tiny_dataset, dask_client, tmp_path_factory):
    """The output directory of one run over ``tiny_dataset`` (pc 0, fl 1 and 2, min_trace_length 5) on ``dask_client``.

    Shared by the tests that look at a run's results: they may add files (QC figures), never change any.
    """
    from pyama_dask.io.inputs.microscopy import read_metadata
    from pyama_dask.pipeline.context import Channels, ProcessingContext
    from pyama_dask.workflow.run import run_complete_workflow

    out = tmp_path_factory.mktemp("tiny_run")
    context = ProcessingContext(out, Channels(pc=0, fl=[1, 2]), params={"min_trace_length": 5})
    assert run_complete_workflow(read_metadata(tiny_dataset.image_path), context, client=dask_client)
    return out


@pytest.fixture(scope="session")
def dark_nuclei(shared_data):
    """The real 6-frame nuclei movie of laptrack made dark, and its labels (ids renumbered per frame).

    Background pixels are exactly 0 but for sparse 1-count specks and nuclei
    are ~12 counts: the frames on which PyAMA-core's LOG-STD threshold
    collapses (its histogram mode is the flat zero floor; the mask covers the
    frame), as on real dark fluorescence frames.
    """
    import numpy as np
    import tifffile

    images, labels = shared_data / "laptrack" / "example_images.tif", shared_data / "laptrack" / "example_label.tif"
    if not (images.is_file() and labels.is_file()):
        pytest.skip(f"{images} or {labels} not found")
    frames, truth = tifffile.imread(images), tifffile.imread(labels)
    rng = np.random.default_rng(0)
    signal = np.clip(frames.astype(float) - np.median(frames[truth == 0]), 0, None)
    signal *= 12.0 / np.percentile(signal[truth > 0], 90)
    dark = rng.poisson(signal * (truth > 0)) + (rng.random(frames.shape) < 0.2)
    return dark.astype(np.uint16), truth
