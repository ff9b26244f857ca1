"""Kinetics ground truth: cells whose fluorescence follows a model, and its recovery from the images end to end.

Segmentation, tracking, extraction and the fit run on a small synthetic
movie (2 FOVs, 40 frames every 15 min, 192 px, 4 cells each) whose cells
follow the maturation model with known onsets, ktl and delta. Measured on
this dataset: median |t0 error| 0.5 min, median relative error of ktl 0.5 %
and of delta 0.9 %, every fit R^2 > 0.9; the thresholds below leave room
for other seeds and platforms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyama_dask.algorithms.kinetics import MODELS
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.synthetic import SyntheticSpec, generate_dataset, load_spec
from pyama_dask.synthetic.evaluate import score_fits
from pyama_dask.synthetic.truth import fluorescence_column
from pyama_dask.workflow.run import run_complete_workflow

SPEC = SyntheticSpec(n_fovs=2, n_frames=40, frame_interval_min=15.0, size=192, n_cells=4, n_fluorescence=1, seed=3,
                     kinetics="maturation")


@pytest.fixture(scope="module")
def kinetics_dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("kinetics"), SPEC, name="kin")


def test_the_cells_follow_the_model_with_their_written_parameters(kinetics_dataset):
    kinetics = pd.read_parquet(kinetics_dataset.kinetics_path)
    truth = pd.read_parquet(kinetics_dataset.truth_path)
    assert load_spec(kinetics_dataset.params_path) == SPEC
    assert len(kinetics) == SPEC.n_fovs * SPEC.n_cells and (kinetics["model"] == "maturation").all()
    hours = SPEC.n_frames * SPEC.frame_interval_min / 60
    assert kinetics["t0"].between(0, hours).all() and kinetics["t0"].std() > 0.2  # onsets spread over hours
    model = MODELS["maturation"]
    for _, cell in kinetics.iterrows():
        rows = truth[(truth["fov"] == cell["fov"]) & (truth["cell"] == cell["cell"]) & truth["present"]]
        expected = model.evaluate(rows["time"].to_numpy() / 60, {name: cell[name] for name in model.names})
        np.testing.assert_allclose(rows[fluorescence_column(1)], expected, rtol=1e-9)


def test_a_spec_without_kinetics_keeps_its_form():
    assert "kinetics" not in SyntheticSpec().to_dict()
    with pytest.raises(ValueError, match="model 'maturation_blocked' has no gain parameter"):
        SyntheticSpec(kinetics="maturation_blocked")
    with pytest.raises(ValueError, match="no kinetics model 'logistic'"):
        SyntheticSpec(kinetics="logistic")


def test_fits_recover_the_true_kinetics_from_the_images(kinetics_dataset, dask_client, tmp_path):
    hours = SPEC.n_frames * SPEC.frame_interval_min / 60
    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1]), params={"min_trace_length": 0.8},
                                fit={"model": "maturation", "t0": {"lower": 0, "upper": hours}})
    assert run_complete_workflow(read_metadata(kinetics_dataset.image_path), context, client=dask_client)
    recovery = score_fits(pd.read_parquet(tmp_path / "fits.parquet"), pd.read_parquet(tmp_path / "traces.parquet"),
                          pd.read_parquet(kinetics_dataset.truth_path), pd.read_parquet(kinetics_dataset.kinetics_path))
    assert recovery.matched_cells >= 6
    assert recovery.median_t0_error_min < 5
    assert recovery.median_relative_error["ktl"] < 0.05
    assert recovery.median_relative_error["delta"] < 0.05
    assert recovery.share_r2_above_0_9 >= 0.9
