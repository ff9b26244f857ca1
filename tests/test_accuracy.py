"""Default (PyAMA-core) algorithms against the synthetic ground truth: cells found, positions, intensities."""

from __future__ import annotations

import pytest

from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.synthetic import SyntheticSpec, generate_dataset, load_truth
from pyama_dask.synthetic.evaluate import score_traces
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.serial import process_fov_serial


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    spec = SyntheticSpec(n_fovs=2, n_frames=32, size=512, n_fluorescence=2, seed=11)
    dataset = generate_dataset(tmp_path_factory.mktemp("accuracy"), spec, name="acc")
    meta, truth = read_metadata(dataset.image_path), load_truth(dataset.truth_path)
    return [
        score_traces(table, truth[truth["fov"] == fov], channel, min_frames=30)
        for fov in range(spec.n_fovs)
        for channel, table in process_fov_serial(meta, fov, Channels(pc=0, fl=[1, 2])).items()
    ]


def test_cells_present_from_the_first_frame_are_traced(scored):
    for score in scored:
        assert score.trackable_cells >= 6  # the test must not pass vacuously
        assert score.recovered_fraction >= 0.9, score


def test_positions_are_within_a_pixel(scored):
    for score in scored:
        assert score.median_position_error_px <= 1.0, score


def test_intensities_follow_the_true_fluorescence(scored):
    for score in scored:
        assert score.intensity_correlation >= 0.99, score
