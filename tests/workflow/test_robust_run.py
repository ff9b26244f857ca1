"""The robust profile end to end: every synthetic cell traced, fingerprints per step, the Dask run, good from QC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from pyama_dask.algorithms.extraction import min_frames
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.io.store import ImageRef, image_qc
from pyama_dask.io.traces import read_traces_csv
from pyama_dask.pipeline.params import Params
from pyama_dask.synthetic import SyntheticSpec, generate_dataset, load_truth
from pyama_dask.synthetic.evaluate import score_tracking
from pyama_dask.pipeline.context import Channels, ProcessingContext
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.workflow.run import run_complete_workflow
from pyama_dask.pipeline.serial import process_fov_serial


@pytest.fixture(scope="module")
def synthetic_scores(tmp_path_factory):
    """(profile, fov) -> TrackingAccuracy on 2 FOVs x 36 frames x 512 px, 20 cells each, 5 appearing late."""
    spec = SyntheticSpec(n_fovs=2, n_frames=36, size=512, n_cells=20, n_fluorescence=1, seed=0)
    dataset = generate_dataset(tmp_path_factory.mktemp("robust"), spec, name="robust")
    meta, truth = read_metadata(dataset.image_path), load_truth(dataset.truth_path)
    profiles = {"pyama": Params(min_trace_length=0.05), "robust": Params(profile="robust")}
    scores = {}
    for name, params in profiles.items():
        for fov in range(spec.n_fovs):
            traces = process_fov_serial(meta, fov, Channels(pc=0, fl=[1]), params)[1]
            needed = min_frames(params.min_trace_length, spec.n_frames)
            scores[name, fov] = score_tracking(traces, truth[truth["fov"] == fov], min_frames=needed)
    return scores


def test_robust_profile_traces_every_synthetic_cell_late_ones_included(synthetic_scores):
    late = 0
    for fov in range(2):
        score = synthetic_scores["robust", fov]
        assert score.eligible_cells == 20
        assert score.recovered_fraction == 1.0 and score.recovered_late_cells == score.late_cells, score
        assert score.id_switches == 0 and score.fragmented_cells == 0, score
        late += score.late_cells
    assert late >= 4  # the spec has 3 + 2 cells appearing after frame 0


def test_pyama_core_tracking_loses_the_late_cells(synthetic_scores):
    for fov in range(2):
        score = synthetic_scores["pyama", fov]
        assert score.late_cells >= 1 and score.recovered_late_cells == 0, score


def test_a_switch_changes_the_fingerprints_of_its_step_and_those_downstream_only(tiny_dataset, tmp_path):
    meta = read_metadata(tiny_dataset.image_path)

    def fingerprints(params):
        plan = plan_fov(meta, tmp_path, 0, Channels(pc=0, fl=[1]), params, {"file": "tiny"})
        return {task.step: task.fingerprint for task in plan.tasks}

    default = fingerprints(Params())
    for params, changed in [
        (Params(tracker="laptrack"), {"track", "graph", "extract"}),
        (Params(good_from_qc=True), {"extract"}),
        (Params(segmentation_guard=True), {"segment", "track", "graph", "correct", "extract"}),
    ]:
        other = fingerprints(params)
        assert {name for name in default if other[name] != default[name]} == changed, params


@pytest.fixture(scope="module")
def dark_nuclei_file(dark_nuclei, tmp_path_factory):
    """The dark nuclei movie as a 2-channel OME-TIFF: the segmented channel and the fluorescence."""
    dark, _ = dark_nuclei
    path = tmp_path_factory.mktemp("dark") / "dark_nuclei.ome.tif"
    tifffile.imwrite(path, np.stack([dark, dark], axis=1), photometric="minisblack", metadata={"axes": "TCYX"})
    return path


def test_dask_run_equals_in_process_and_marks_fallback_frames_not_good(dark_nuclei_file, dask_client, tmp_path):
    meta = read_metadata(dark_nuclei_file)
    # PyAMA-core's threshold, guarded: its collapsed frames fall back (recorded) and are good=False.
    params = {"profile": "robust", "threshold_method": "logstd-mode", "min_trace_length": 1}
    context = ProcessingContext(tmp_path, Channels(pc=0, fl=[1]), params=params)
    assert run_complete_workflow(meta, context, client=dask_client)
    qc = image_qc(ImageRef(tmp_path, 0, "seg", 0))
    fallen = {record["frame"] for record in qc["fallback_frames"]}
    assert qc["image_kind"] == "fluorescence" and len(fallen) >= 3
    traces = read_traces_csv(context.results_paths[0].traces_csv[0][1])
    expected = process_fov_serial(meta, 0, Channels(pc=0, fl=[1]), Params.from_mapping(params))[1]
    pd.testing.assert_frame_equal(traces[["cell", "frame", "area", "good"]],
                                  expected[["cell", "frame", "area", "good"]].reset_index(drop=True),
                                  check_dtype=False)
    assert not traces.loc[traces["frame"].isin(fallen), "good"].any()
    assert traces.loc[~traces["frame"].isin(fallen), "good"].mean() > 0.5
