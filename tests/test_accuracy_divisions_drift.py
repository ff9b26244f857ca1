"""Dividing cells under stage drift, robust profile with the register step: the accuracy targets of issue 18.

Targets: at least 95 % of the cells traced over at least 90 % of their
frames, at least 90 % of the divisions linked, and no ID switch caused by
drift (no more switches than on the same movie without stage drift). The
grid leaves the cells room, so that none leaves the field: a division out of
view cannot be linked by any tracker (the mother's track continues into the
daughter in view, measured in the README).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pyama_dask.algorithms.extraction import extract_traces, min_frames
from pyama_dask.algorithms.registration import drift_stack
from pyama_dask.pipeline.params import Params
from pyama_dask.pipeline.serial import segment_and_track
from pyama_dask.synthetic import SyntheticSpec, render_fov
from pyama_dask.synthetic.cells import simulate_cells, stage_drift
from pyama_dask.synthetic.evaluate import linked_divisions, score_tracking

#: 16 cells of 28 px per 512 px FOV, about half of them dividing; the stage lands within
#: +-35 px of its position, so most frame-to-frame jumps exceed a cell.
DIVIDING_DRIFTING = SyntheticSpec(n_fovs=3, n_frames=20, size=512, n_cells=16, n_fluorescence=1, seed=2,
                                  divisions=True, stage_drift_px=35.0)
STILL = dataclasses.replace(DIVIDING_DRIFTING, stage_drift_px=0.0)
PARAMS = Params(profile="robust")


def _tracked(spec: SyntheticSpec, register: bool) -> dict[str, int]:
    """Summed tracking scores and linked divisions over the spec's FOVs."""
    totals: dict[str, int] = {}
    for fov in range(spec.n_fovs):
        frames, truth = render_fov(spec, fov)
        phase, fluorescence = frames[:, 0], frames[:, 1].astype(np.float32)
        drift = drift_stack(phase, drift_reference="previous") if register else None
        _, labels, _, parents = segment_and_track(phase, PARAMS, fov, drift)
        times = np.arange(spec.n_frames) * spec.frame_interval_min
        traces = extract_traces(labels, fluorescence, times, fov, min_trace_length=PARAMS.min_trace_length,
                                parents=parents)
        score = score_tracking(traces, truth, min_frames=min_frames(PARAMS.min_trace_length, spec.n_frames))
        linked, divisions = linked_divisions(truth, labels, parents or {})
        fov_totals = {"eligible": score.eligible_cells, "recovered": score.recovered_cells,
                      "id_switches": score.id_switches, "linked": linked, "divisions": divisions}
        totals = {name: totals.get(name, 0) + value for name, value in fov_totals.items()}
    return totals


@pytest.fixture(scope="module")
def scores():
    return {"drift, registered": _tracked(DIVIDING_DRIFTING, register=True), "no drift": _tracked(STILL, False)}


def test_the_drift_is_larger_than_a_cell_and_carries_no_cell_out_of_view():
    jumps = np.abs(np.diff(stage_drift(DIVIDING_DRIFTING, 0), axis=1))
    assert jumps.max() > 2 * DIVIDING_DRIFTING.cell_radius_px
    for fov in range(DIVIDING_DRIFTING.n_fovs):
        drifting, still = simulate_cells(DIVIDING_DRIFTING, fov), simulate_cells(STILL, fov)
        np.testing.assert_array_equal(drifting.present, still.present)


def test_cells_are_traced_over_their_frames_despite_drift(scores):
    # Measured: 102 of 102 (58 of them born after frame 0, daughters mostly).
    score = scores["drift, registered"]
    assert score["eligible"] >= 90 and score["recovered"] >= 0.95 * score["eligible"], score


def test_nine_in_ten_divisions_are_linked_despite_drift(scores):
    # Measured: 27 of 27 (26 of 27 without drift).
    score = scores["drift, registered"]
    assert score["divisions"] >= 20 and score["linked"] >= 0.9 * score["divisions"], score


def test_drift_causes_no_id_switch(scores):
    # Measured: 0 with drift and registration, 1 without drift (the missed division:
    # the mother's track continues into a daughter).
    assert scores["drift, registered"]["id_switches"] <= scores["no drift"]["id_switches"], scores
