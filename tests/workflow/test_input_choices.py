"""Runs over inputs that only differ in how they hold the same pixels: time given as an OME TimeIncrement,
no pixel size, Z stacks read at a plane or as their maximum projection, one channel segmented and measured.

Each run must give the traces of the run over a plain two-channel file holding the same frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from pyama_dask.io.inputs.microscopy import input_identity, read_frames, read_metadata
from pyama_dask.io.images import open_image
from pyama_dask.io.store import ImageRef, image_space_unit
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.pipeline.serial import process_fov_serial, run_plan_serially
from pyama_dask.workflow.run import run_complete_workflow

PARAMS = {"min_trace_length": 5}
TIME = {"TimeIncrement": 600.0, "TimeIncrementUnit": "s"}  # 10 min per frame, no per-plane DeltaT


@pytest.fixture(scope="module")
def frames(tiny_dataset) -> np.ndarray:
    """(T, H, W) frames of FOV 0 of the tiny dataset in which cells can be segmented."""
    return read_frames(tiny_dataset.image_path, 0, 0)


def _write(path: Path, data: np.ndarray, axes: str) -> Path:
    tifffile.imwrite(path, data, metadata={"axes": axes, **TIME})  # no PhysicalSizeX: pixel size unknown
    return path


def _run(path: Path, out: Path, channels: Channels, client, z=None) -> tuple[ProcessingContext, pd.DataFrame]:
    context = ProcessingContext(out, channels, params=dict(PARAMS), z=z)
    assert run_complete_workflow(read_metadata(path), context, client=client)
    [(channel, csv)] = context.results_paths[0].traces_csv
    return context, read_traces_csv(csv)


@pytest.fixture(scope="module")
def two_channels(frames, dask_client, tmp_path_factory) -> pd.DataFrame:
    """Traces of the frames given as two identical channels: channel 0 segmented, channel 1 measured."""
    folder = tmp_path_factory.mktemp("two_channels")
    path = _write(folder / "two.ome.tif", np.stack([frames, frames], axis=1), "TCYX")
    traces = _run(path, folder / "out", Channels(pc=0, fl=[1]), dask_client)[1]
    assert len(traces) > 0, "the frames must give traces"
    return traces.drop(columns="channel", errors="ignore")


def _same_traces(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.drop(columns="channel", errors="ignore").reset_index(drop=True),
                                  want.reset_index(drop=True), check_dtype=False)


def test_one_channel_segmented_and_measured(frames, two_channels, dask_client, tmp_path):
    path = _write(tmp_path / "one.ome.tif", frames[:, None], "TCYX")
    context, traces = _run(path, tmp_path / "out", Channels(pc=0, fl=[0]), dask_client)
    _same_traces(traces, two_channels)
    assert sorted(np.unique(traces["time"])) == pytest.approx(10.0 * np.unique(traces["frame"]))
    paths = context.results_paths[0]
    assert paths.fl == [(0, paths.pc[1])]  # copied once, read by both roles
    assert not ImageRef(tmp_path / "out", 0, "fl", 0).location.exists()
    meta = read_metadata(path)
    expected = process_fov_serial(meta, 0, Channels(pc=0, fl=[0]), Params.from_mapping(PARAMS))[0]
    _same_traces(expected, two_channels)
    plan = plan_fov(meta, tmp_path / "serial", 0, Channels(pc=0, fl=[0]), Params.from_mapping(PARAMS),
                    input_identity(path))
    assert {result.status for result in run_plan_serially(plan)} == {"done"}
    _same_traces(read_traces_csv(plan.paths.traces_csv[0][1]), two_channels)


def test_unknown_pixel_size_stays_unknown(frames, two_channels, dask_client, tmp_path):
    path = _write(tmp_path / "one.ome.tif", frames[:, None], "TCYX")
    out = tmp_path / "out"
    _run(path, out, Channels(pc=0, fl=[0]), dask_client)
    for kind in ("pc", "seg", "seg_labeled"):
        assert image_space_unit(ImageRef(out, 0, kind, 0)) is None
    for kind in ("fl", "fl_corrected"):  # the measured channel is the segmented channel's copy
        image = open_image(out, 0, kind, 0)
        assert image.attrs["units"] == {"t": "minute", "y": None, "x": None}
        assert image["x"].values.tolist() == list(range(frames.shape[2]))
    np.testing.assert_array_equal(open_image(out, 0, "fl", 0).values, frames)
    document = yaml.safe_load((out / "processing_results.yaml").read_text())
    assert (document["pixel_size_um"], document["z"], document["time_source"]) == (None, None, "ome-time-increment")


@pytest.mark.parametrize("z", [1, "max"])
def test_z_stack_plane_or_projection(frames, two_channels, dask_client, tmp_path, z):
    planes = np.stack([frames // 2, frames, frames // 3], axis=1)  # plane 1 is the brightest everywhere
    path = _write(tmp_path / "stack.ome.tif", np.stack([planes, planes], axis=1), "TCZYX")
    _, traces = _run(path, tmp_path / "out", Channels(pc=0, fl=[1]), dask_client, z=z)
    _same_traces(traces, two_channels)
    assert yaml.safe_load((tmp_path / "out" / "processing_results.yaml").read_text())["z"] == z


def test_z_stack_without_a_choice_says_which_plane(frames, dask_client, tmp_path, caplog):
    planes = np.stack([frames, frames // 2], axis=1)
    path = _write(tmp_path / "stack.ome.tif", planes[:, None], "TCZYX")
    with caplog.at_level(logging.WARNING, logger="pyama_dask"):
        _run(path, tmp_path / "out", Channels(pc=0, fl=[0]), dask_client)
    assert "it has 2 Z planes; the run uses plane 0" in caplog.text
    assert yaml.safe_load((tmp_path / "out" / "processing_results.yaml").read_text())["z"] == 0
