"""The graph step: the tracks of a run's labels and lineage as a geff graph in the FOV's group, resumed like any output."""

from __future__ import annotations

import numpy as np
import pytest

from pyama_dask.io.completion import completed_fingerprint
from pyama_dask.io.drift import read_drift_csv
from pyama_dask.io.fov_files import drift_path
from pyama_dask.io.inputs.microscopy import input_identity, read_metadata
from pyama_dask.io.store import ImageRef, image_lineage, open_image
from pyama_dask.io.tracks_geff import TRACKS_KIND, read_tracks_geff
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.plan import plan_fov
from pyama_dask.pipeline.serial import run_plan_serially
from pyama_dask.pipeline.steps import drift_registered
from pyama_dask.synthetic import SyntheticSpec, generate_dataset

CHANNELS = Channels(pc=0, fl=[1])
ROBUST = Params(profile="robust", min_trace_length=0.5)


@pytest.fixture(scope="module")
def dividing_dataset(tmp_path_factory):
    """1 FOV x 16 frames x 256 px of 8 dividing cells, the stage drifting a few pixels."""
    spec = SyntheticSpec(n_fovs=1, n_frames=16, size=256, n_cells=8, n_fluorescence=1, seed=5, divisions=True,
                         stage_drift_px=3.0)
    return generate_dataset(tmp_path_factory.mktemp("dividing"), spec, name="dividing")


def _plan(dataset, out, params=ROBUST):
    meta = read_metadata(dataset.image_path)
    return plan_fov(meta, out, 0, CHANNELS, params, input_identity(dataset.image_path))


def test_the_graph_holds_every_cell_of_every_frame_and_the_lineage(dividing_dataset, tmp_path):
    with drift_registered("previous"):
        plan = _plan(dividing_dataset, tmp_path)
        results = run_plan_serially(plan)
    labels_ref = ImageRef(tmp_path, 0, "seg_labeled", 0)
    labels, parents = open_image(labels_ref)[:], image_lineage(labels_ref)
    graph, _ = read_tracks_geff(ImageRef(tmp_path, 0, TRACKS_KIND, 0).location)
    assert parents, "the synthetic cells were meant to divide"

    nodes = list(zip(graph.t.tolist(), graph.track_id.tolist()))
    assert nodes == [(t, int(cell)) for t in range(len(labels)) for cell in np.unique(labels[t]) if cell]
    for node in np.flatnonzero(graph.t == 5):
        cell = labels[5] == graph.track_id[node]
        assert graph.area[node] == cell.sum()
        np.testing.assert_allclose([graph.y[node], graph.x[node]], np.argwhere(cell).mean(axis=0))
    divisions = {(int(graph.track_id[b]), int(graph.track_id[a])) for a, b in graph.edges[graph.is_division]}
    assert divisions == set(parents.items())
    links = graph.edges[~graph.is_division]
    assert (graph.track_id[links[:, 0]] == graph.track_id[links[:, 1]]).all()
    assert (graph.t[links[:, 0]] < graph.t[links[:, 1]]).all()
    assert len(links) == graph.n_nodes - len(np.unique(graph.track_id))  # each track a chain

    drift = read_drift_csv(drift_path(tmp_path, read_metadata(dividing_dataset.image_path).base_name, 0, 0))
    np.testing.assert_allclose(graph.x_corrected, graph.x - drift[graph.t, 1])
    np.testing.assert_allclose(graph.y_corrected, graph.y - drift[graph.t, 0])
    summary = next(r.summary for r in results if r.step == "graph")
    assert summary == {"nodes": graph.n_nodes, "division_edges": len(parents)}
    assert plan.paths.to_dict()[TRACKS_KIND] == [0, str(ImageRef(tmp_path, 0, TRACKS_KIND, 0).location)]


def test_the_graph_resumes_and_follows_the_tracking(dividing_dataset, tmp_path):
    plan = _plan(dividing_dataset, tmp_path)
    run_plan_serially(plan)
    graph_ref = ImageRef(tmp_path, 0, TRACKS_KIND, 0)
    fingerprint = completed_fingerprint(graph_ref)
    assert fingerprint == next(t.fingerprint for t in plan.tasks if t.step == "graph")
    assert {r.step: r.status for r in run_plan_serially(_plan(dividing_dataset, tmp_path))}["graph"] == "skipped"

    iou = _plan(dividing_dataset, tmp_path, Params(min_trace_length=0.5))
    changed = {t.step for t in iou.tasks if not t.done}
    assert {"track", "graph"} <= changed and "copy" not in changed
    run_plan_serially(iou)
    graph, _ = read_tracks_geff(graph_ref.location)
    assert completed_fingerprint(graph_ref) != fingerprint
    assert not graph.is_division.any() and graph.y_corrected is None  # no lineage, no drift
    assert graph.track_id.max() == open_image(ImageRef(tmp_path, 0, "seg_labeled", 0))[:].max()
