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
