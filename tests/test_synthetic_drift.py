"""Synthetic stage drift: the generator's option, and tracking recall without and with the register step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pyama_dask.algorithms.extraction import min_frames
from pyama_dask.io.inputs.microscopy import read_metadata
from pyama_dask.pipeline.context import Channels
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.serial import process_fov_serial
from pyama_dask.synthetic import SyntheticSpec, generate_dataset, load_truth, render_fov, true_labels
from pyama_dask.synthetic.cells import simulate_cells, stage_drift
from pyama_dask.synthetic.evaluate import linked_divisions, score_tracking

#: Cells of radius 14 px (28 px across); the stage lands within +-40 px of its position: most
#: frame-to-frame jumps exceed a cell.
DRIFTING = SyntheticSpec(n_fovs=1, n_frames=20, size=512, n_cells=12, n_fluorescence=1, seed=0, stage_drift_px=40.0)


def test_without_stage_drift_a_spec_serialises_as_before():
    spec = dataclasses.replace(DRIFTING, stage_drift_px=0.0)
    assert "stage_drift_px" not in spec.to_dict()
    assert SyntheticSpec.from_dict(DRIFTING.to_dict()) == DRIFTING
    with pytest.raises(ValueError, match="stage_drift_px=-1.0 must be >= 0"):
        SyntheticSpec(stage_drift_px=-1.0)


def test_stage_drift_moves_every_cell_of_a_frame_alike_and_nothing_else():
    still = simulate_cells(dataclasses.replace(DRIFTING, stage_drift_px=0.0), 0)
    moved = simulate_cells(DRIFTING, 0)
    drift = stage_drift(DRIFTING, 0)
    np.testing.assert_allclose(moved.y - still.y, np.broadcast_to(drift[0], still.y.shape), atol=1e-9)
    np.testing.assert_allclose(moved.x - still.x, np.broadcast_to(drift[1], still.x.shape), atol=1e-9)
    assert np.abs(drift).max() <= 40.0 and np.abs(np.diff(drift, axis=1)).max() > 28.0
    for name in ("semi_major", "angle", "present", "fluorescence"):
        np.testing.assert_array_equal(getattr(moved, name), getattr(still, name))


@pytest.fixture(scope="module")
def recall(tmp_path_factory):
    """(tracker, registered) -> TrackingAccuracy on the drifting dataset."""
    dataset = generate_dataset(tmp_path_factory.mktemp("drift"), DRIFTING, name="drift")
    meta, truth = read_metadata(dataset.image_path), load_truth(dataset.truth_path)
    scores = {}
    for tracker, params in {"iou": Params(min_trace_length=0.05), "laptrack": Params(profile="robust")}.items():
        needed = min_frames(params.min_trace_length, DRIFTING.n_frames)
        for reference in (None, "previous"):
            traces = process_fov_serial(meta, 0, Channels(pc=0, fl=[1]), params, drift_reference=reference)[1]
            scores[tracker, reference is not None] = score_tracking(traces, truth, min_frames=needed)
    return scores


@pytest.mark.parametrize("tracker", ["iou", "laptrack"])
def test_drift_collapses_tracking_without_the_register_step(recall, tracker):
    # Measured: 0 of 12 cells followed over 90 % of their frames by either tracker.
    assert recall[tracker, False].recovered_fraction <= 0.1


def test_the_register_step_recovers_the_iou_tracks(recall):
    # Measured: 11 of 12, every cell present from frame 0 (IoU tracks start in frame 0 only).
    score = recall["iou", True]
    assert score.recovered_cells >= score.eligible_cells - score.late_cells
    assert score.id_switches == 0


def test_the_register_step_recovers_the_laptrack_tracks(recall):
    # Measured: 12 of 12, no ID switch, no fragmented cell.
    score = recall["laptrack", True]
    assert score.recovered_fraction >= 0.95
    assert score.id_switches == 0 and score.fragmented_cells == 0


#: Dividing cells and 40 px of stage drift: daughters (beside their mother's site) leave the frame.
LEAVING = SyntheticSpec(n_fovs=1, n_frames=20, size=512, n_cells=25, n_fluorescence=1, seed=2, stage_drift_px=40.0,
                        divisions=True)


def test_a_cell_carried_out_of_the_frame_is_absent_there():
    moved, still = simulate_cells(LEAVING, 0), simulate_cells(dataclasses.replace(LEAVING, stage_drift_px=0.0), 0)
    rows, columns = np.rint(moved.y), np.rint(moved.x)
    outside = (rows < 0) | (rows >= LEAVING.size) | (columns < 0) | (columns >= LEAVING.size)
    assert (still.present & outside).any()  # the drift does carry cells out
    np.testing.assert_array_equal(moved.present, still.present & ~outside)
    assert not moved.fluorescence[:, ~moved.present].any()


def test_perfect_tracks_link_every_division_in_view_and_only_those_count():
    _, truth = render_fov(LEAVING, 0)
    labels = np.stack([true_labels(LEAVING, 0, t) for t in range(LEAVING.n_frames)])
    founders = truth.drop_duplicates("cell")
    parents = {int(cell): int(mother) for cell, mother in zip(founders["cell"], founders["parent"]) if mother}
    linked, in_view = linked_divisions(truth, labels, parents)
    assert linked == in_view and 0 < in_view < len(set(parents.values())), (linked, in_view)
