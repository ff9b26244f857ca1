"""Trace quality: ``good`` from the QC and the minimum trace length as frames or share of the movie."""

from __future__ import annotations

import numpy as np
import pytest

from pyama_dask.algorithms.extraction import extract_traces, min_frames


def _movie(n_frames=10):
    """Cell 1 in the middle of every frame, cell 2 on the left border in every frame, cell 3 in frames 0-2."""
    labels = np.zeros((n_frames, 20, 20), dtype=np.uint16)
    labels[:, 8:12, 8:12] = 1
    labels[:, 2:6, 0:3] = 2
    labels[:3, 14:17, 14:17] = 3
    return labels, np.ones(labels.shape, dtype=np.float32), np.arange(n_frames) * 5.0


def test_good_is_false_on_fallback_frames_and_border_cells():
    labels, fluorescence, times = _movie()
    table = extract_traces(labels, fluorescence, times, 0, min_trace_length=1, good_from_qc=True,
                           fallback_frames=[4, 7])
    bad = table[~table["good"]]
    assert set(bad.loc[bad["cell"] == 1, "frame"]) == {4, 7}
    assert set(bad.loc[bad["cell"] == 2, "frame"]) == set(range(10))  # touches the border everywhere
    assert table.loc[table["cell"] == 3, "good"].all()


def test_without_qc_every_row_is_good():
    labels, fluorescence, times = _movie()
    table = extract_traces(labels, fluorescence, times, 0, min_trace_length=1, fallback_frames=[4, 7])
    assert table["good"].all() and table["good"].dtype == bool


@pytest.mark.parametrize(("min_length", "cells"), [(3, {1, 2, 3}), (4, {1, 2}), (0.3, {1, 2, 3}), (0.5, {1, 2})])
def test_minimum_length_in_frames_or_as_share_of_the_movie(min_length, cells):
    labels, fluorescence, times = _movie()
    table = extract_traces(labels, fluorescence, times, 0, min_trace_length=min_length)
    assert set(table["cell"]) == cells


def test_min_frames_rounds_a_share_up_and_never_below_one():
    assert min_frames(30, 8) == 30
    assert min_frames(0.5, 92) == 46
    assert min_frames(0.1, 92) == 10
    assert min_frames(0.01, 8) == 1
    assert min_frames(1.0, 7) == 7
